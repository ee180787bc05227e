"""Episodes: one signal at open, then only on improvement or cooldown; hysteresis and
stale/feed-down closes produce one Episode record."""

from __future__ import annotations

import pytest

from arbot.detector import Detector
from tests.detector.helpers import detector, episodes, signals, tick, venue

# Settings of helpers.settings(): min 0.1 %, hysteresis 0.05 %, step 0.05 %, cooldown 60 s.


def _opened(**overrides: float) -> Detector:
    """a buys at 100, b sells at 100.2: 0.2 % open at t=0."""
    d = detector(venue("a"), venue("b"), venue("c"), **({"max_leg_skew": 100.0} | overrides))
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    [sig] = signals(d.on_tick(tick("b", 100.2, 100.3, 0.0), 0.0))
    assert sig.profit_percent == pytest.approx(0.2)
    return d


def test_unchanged_opportunity_is_not_signalled_again() -> None:
    d = _opened()
    for t in range(1, 30):
        assert d.on_tick(tick("b", 100.2, 100.3, float(t)), float(t)) == []
        d.on_tick(tick("a", 99.0, 100.0, float(t)), float(t))
    assert d.open_episodes() == 1


def test_improvement_by_step_signals_again() -> None:
    d = _opened()
    assert d.on_tick(tick("b", 100.24, 100.3, 1.0), 1.0) == []  # +0.04 %: below the step
    [sig] = signals(d.on_tick(tick("b", 100.26, 100.3, 2.0), 2.0))  # +0.06 % over last signal
    assert sig.profit_percent == pytest.approx(0.26)
    assert sig.trend_direction == "widening"
    # The next step is measured from the last signal (0.26 %), not from the open.
    assert d.on_tick(tick("b", 100.30, 100.4, 3.0), 3.0) == []
    assert signals(d.on_tick(tick("b", 100.32, 100.4, 4.0), 4.0))


def test_cooldown_signals_a_lasting_opportunity_again() -> None:
    d = _opened(cooldown=10.0, max_quote_age=100.0, max_leg_skew=100.0)
    assert d.on_tick(tick("b", 100.2, 100.3, 9.5), 9.5) == []
    [sig] = signals(d.on_tick(tick("b", 100.2, 100.3, 10.0), 10.0))
    assert sig.episode_key.endswith("|0.000000")
    assert sig.confidence > 0.0


def test_hysteresis_keeps_episode_open_then_closes_it() -> None:
    d = _opened()
    # 0.07 %: below min 0.1 % but not below min − hysteresis 0.05 %: stays open, no signal.
    assert d.on_tick(tick("b", 100.07, 100.3, 1.0), 1.0) == []
    assert d.open_episodes() == 1
    # Back above the threshold, but no improvement over the last signal: no new signal.
    assert d.on_tick(tick("b", 100.2, 100.3, 2.0), 2.0) == []
    [ep] = episodes(d.on_tick(tick("b", 100.04, 100.3, 3.0), 3.0))
    assert ep.close_reason == "below_threshold"
    assert (ep.opened_at, ep.closed_at) == (0.0, 3.0)
    assert (ep.updates, ep.signals) == (3, 1)
    assert ep.peak_profit_percent == pytest.approx(0.2)
    assert (ep.buy_exchange, ep.sell_exchange, ep.symbol) == ("a", "b", "BTC/USDT")
    assert d.open_episodes() == 0


def test_without_hysteresis_an_edge_that_cannot_open_closes() -> None:
    """min 0 %, hysteresis 0: a zero edge neither opens an episode nor keeps one open."""
    d = _opened(min_profit_percent=0.0, hysteresis_percent=0.0)
    assert d.on_tick(tick("b", 100.01, 100.3, 1.0), 1.0) == []  # 0.01 %: stays open
    [ep] = episodes(d.on_tick(tick("b", 100.0, 100.3, 2.0), 2.0))  # 0 %: closes
    assert ep.close_reason == "below_threshold" and d.open_episodes() == 0
    assert d.on_tick(tick("b", 100.0, 100.3, 3.0), 3.0) == []  # and does not reopen


def test_reopening_starts_a_new_episode_with_its_own_key() -> None:
    d = _opened()
    [closed] = episodes(d.on_tick(tick("b", 99.0, 100.3, 1.0), 1.0))
    [sig] = signals(d.on_tick(tick("b", 100.2, 100.3, 2.0), 2.0))
    assert sig.episode_key != closed.key


def test_episode_with_a_silent_leg_closes_at_next_tick_of_the_symbol() -> None:
    d = _opened(max_quote_age=5.0, max_leg_skew=100.0)
    d.on_tick(tick("b", 100.2, 100.3, 4.0), 4.0)
    [ep] = episodes(d.on_tick(tick("b", 100.2, 100.3, 6.0), 6.0))  # a's quote is 6 s old
    assert (ep.close_reason, ep.closed_at) == ("stale", 6.0)


def test_stale_episode_closes_on_a_tick_of_another_exchange_of_the_symbol() -> None:
    d = _opened(max_quote_age=5.0)
    [ep] = episodes(d.on_tick(tick("c", 1.0, 2.0, 7.0), 7.0))
    assert ep.close_reason == "stale"


def test_sweep_closes_episodes_of_quiet_symbols() -> None:
    d = _opened(max_quote_age=5.0)
    assert d.sweep(5.0) == []
    [ep] = d.sweep(5.5)
    assert (ep.close_reason, ep.closed_at) == ("stale", 5.5)
    assert d.open_episodes() == 0


def test_leg_skew_closes_episode() -> None:
    d = _opened(max_quote_age=100.0, max_leg_skew=2.0)
    [ep] = episodes(d.on_tick(tick("b", 100.2, 100.3, 3.0), 3.0))
    assert ep.close_reason == "skew"


def test_vanishing_size_closes_episode() -> None:
    d = _opened()
    [ep] = episodes(d.on_tick(tick("b", 100.2, 100.3, 1.0, size=None), 1.0))
    assert ep.close_reason == "size"


def test_feed_down_closes_and_excludes_the_exchange_until_a_fresh_quote() -> None:
    d = _opened()
    [ep] = d.on_feed_down("a", 1.0)
    assert (ep.close_reason, ep.closed_at) == ("feed_down", 1.0)
    assert d.on_tick(tick("b", 100.3, 100.4, 1.5), 1.5) == []  # a's old quote is excluded
    assert d.best_spreads() == {}
    [sig] = signals(d.on_tick(tick("a", 99.0, 100.0, 2.0), 2.0))
    assert sig.buy_exchange == "a"
    assert d.on_feed_down("nobody", 3.0) == []


def test_narrowing_trend_on_cooldown_signal() -> None:
    d = _opened(cooldown=5.0, trend_halflife=1.0, max_leg_skew=100.0, max_quote_age=100.0)
    [improved] = signals(d.on_tick(tick("b", 100.4, 100.5, 1.0), 1.0))
    [sig] = signals(d.on_tick(tick("b", 100.15, 100.5, 6.0), 6.0))
    assert sig.profit_percent < improved.profit_percent
    assert sig.trend_direction == "narrowing"
