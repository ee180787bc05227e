"""Scenarios for the detector: formulas, baselines, size caps, staleness and episodes."""

from __future__ import annotations

import pytest

from arbot.models import Episode, Signal
from tests.detector.helpers import SYMBOL, detector, episodes, signals, tick, venue


def test_net_edge_formula_with_fees() -> None:
    """profit_percent = 100·(bid_B(1−f_B) − ask_A(1+f_A)) / ask_A(1+f_A); profit = size·edge."""
    d = detector(venue("a", fee=0.001), venue("b", fee=0.002))
    d.on_tick(tick("a", 99.9, 100.0, 0.0, size=2.0), 0.0)
    [sig] = d.on_tick(tick("b", 101.0, 101.1, 0.0, size=3.0), 0.0)
    assert isinstance(sig, Signal)
    cost, proceeds = 100.0 * 1.001, 101.0 * 0.998
    assert (sig.buy_exchange, sig.sell_exchange) == ("a", "b")
    assert (sig.buy_price, sig.sell_price) == (100.0, 101.0)
    assert sig.profit_percent == pytest.approx(100 * (proceeds - cost) / cost)
    assert sig.buy_size == sig.sell_size == 2.0
    assert sig.profit == pytest.approx(2.0 * (proceeds - cost))
    assert 0.0 <= sig.confidence <= 1.0
    assert sig.episode_key.startswith(f"{SYMBOL}|a|b|")


def test_premium_baseline_is_removed_before_comparing() -> None:
    """A venue at its usual 3 % premium offers nothing; 1 % above that it is a sell leg."""
    d = detector(venue("world"), venue("krw", baseline=0.03))
    d.on_tick(tick("world", 99.95, 100.0, 0.0), 0.0)
    assert d.on_tick(tick("krw", 103.0, 103.1, 0.0), 0.0) == []
    [sig] = signals(d.on_tick(tick("krw", 104.03, 104.1, 1.0), 1.0))
    assert (sig.buy_exchange, sig.sell_exchange) == ("world", "krw")
    assert sig.sell_price == 104.03
    assert sig.profit_percent == pytest.approx(100 * (104.03 / 1.03 - 100.0) / 100.0)


def test_discounted_venue_is_a_buy_leg_only_beyond_its_baseline() -> None:
    d = detector(venue("world"), venue("cheap", baseline=-0.02))
    d.on_tick(tick("world", 100.0, 100.05, 0.0), 0.0)
    assert d.on_tick(tick("cheap", 97.9, 98.0, 0.0), 0.0) == []  # 98 / 0.98 = 100: no edge
    [sig] = signals(d.on_tick(tick("cheap", 97.5, 97.6, 1.0), 1.0))
    assert (sig.buy_exchange, sig.sell_exchange) == ("cheap", "world")


def test_size_is_the_smaller_side_capped_by_max_trade_amount() -> None:
    d = detector(venue("a", max_amount=150.0), venue("b"))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, size=5.0), 0.0)
    [sig] = d.on_tick(tick("b", 102.0, 103.0, 0.0, size=2.0), 0.0)
    assert isinstance(sig, Signal)
    assert sig.buy_size == pytest.approx(1.5)  # 150 / ask 100 < min(5, 2)


def test_sell_leg_cap_uses_its_own_price() -> None:
    d = detector(venue("a"), venue("b", max_amount=102.0))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, size=5.0), 0.0)
    [sig] = d.on_tick(tick("b", 102.0, 103.0, 0.0, size=5.0), 0.0)
    assert isinstance(sig, Signal)
    assert sig.sell_size == pytest.approx(1.0)


def test_trade_below_min_trade_amount_gives_no_signal() -> None:
    d = detector(venue("a", min_amount=500.0), venue("b"))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, size=4.0), 0.0)
    assert d.on_tick(tick("b", 102.0, 103.0, 0.0, size=4.0), 0.0) == []
    d.on_tick(tick("b", 102.0, 103.0, 1.0, size=6.0), 1.0)
    assert signals(d.on_tick(tick("a", 99.0, 100.0, 1.0, size=6.0), 1.0))


def test_quote_without_sizes_is_never_a_leg() -> None:
    d = detector(venue("a"), venue("b"))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, size=None), 0.0)
    assert d.on_tick(tick("b", 102.0, 103.0, 0.0), 0.0) == []
    assert signals(d.on_tick(tick("a", 99.0, 100.0, 1.0), 1.0))


def test_arbitrage_disabled_and_unknown_exchanges_are_ignored() -> None:
    d = detector(venue("a"), venue("off", arbitrage=False))
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    assert d.on_tick(tick("off", 102.0, 103.0, 0.0), 0.0) == []
    assert d.on_tick(tick("nobody", 102.0, 103.0, 0.0), 0.0) == []


def test_stale_quote_is_not_used() -> None:
    d = detector(venue("a"), venue("b"), max_quote_age=5.0, max_leg_skew=100.0)
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    assert d.on_tick(tick("b", 102.0, 103.0, 5.5), 5.5) == []
    # A quote received exactly max_quote_age ago is still usable.
    d = detector(venue("a"), venue("b"), max_quote_age=5.0, max_leg_skew=100.0)
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    assert signals(d.on_tick(tick("b", 102.0, 103.0, 5.0), 5.0))


def test_quote_received_late_counts_its_own_receive_time() -> None:
    d = detector(venue("a"), venue("b"), max_quote_age=5.0)
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    assert d.on_tick(tick("b", 102.0, 103.0, 4.0), 6.0) == []


def test_legs_beyond_max_leg_skew_are_not_paired() -> None:
    d = detector(venue("a"), venue("b"), max_leg_skew=2.0)
    d.on_tick(tick("a", 99.0, 100.0, 10.0, ts=7.5), 10.0)
    assert d.on_tick(tick("b", 102.0, 103.0, 10.0, ts=10.0), 10.0) == []
    assert signals(d.on_tick(tick("a", 99.0, 100.0, 10.0, ts=8.0), 10.0))


def test_only_identical_symbols_are_compared_by_default() -> None:
    d = detector(venue("a"), venue("b"))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, symbol="BTC/USD"), 0.0)
    assert d.on_tick(tick("b", 102.0, 103.0, 0.0, symbol="BTC/USDT"), 0.0) == []


def test_quote_groups_make_usd_and_usdt_comparable() -> None:
    d = detector(venue("a"), venue("b"), quote_groups=(("USDT", "USD"),))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, symbol="BTC/USD"), 0.0)
    d.on_tick(tick("a", 10.0, 10.1, 0.0, symbol="ETH/USDT"), 0.0)
    [sig] = d.on_tick(tick("b", 102.0, 103.0, 0.0, symbol="BTC/USDT"), 0.0)
    assert isinstance(sig, Signal)
    assert sig.symbol == "BTC/USDT"  # the group's first quote names a cross-quote pair
    assert sig.episode_key == "BTC/USDT|a:BTC/USD|b:BTC/USDT|0.000000"
    assert (sig.buy_exchange, sig.sell_exchange) == ("a", "b")


def test_best_counterparty_is_chosen_for_the_updated_exchange() -> None:
    d = detector(venue("a"), venue("b"), venue("c"))
    d.on_tick(tick("b", 101.0, 101.5, 0.0), 0.0)
    d.on_tick(tick("c", 102.0, 102.5, 0.0), 0.0)
    [sig] = d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    assert isinstance(sig, Signal)
    assert (sig.buy_exchange, sig.sell_exchange) == ("a", "c")


def test_best_spreads_and_open_episodes() -> None:
    d = detector(venue("a"), venue("b"))
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    assert d.best_spreads() == {}
    d.on_tick(tick("b", 100.5, 101.0, 0.0), 0.0)
    assert d.best_spreads()[SYMBOL] == pytest.approx(0.5)
    assert d.open_episodes() == 1
    d.on_tick(tick("b", 99.5, 100.0, 1.0), 1.0)
    assert d.best_spreads()[SYMBOL] == pytest.approx(-0.5)
    assert d.open_episodes() == 0


def test_close_all_closes_every_episode_at_shutdown() -> None:
    d = detector(venue("a"), venue("b"))
    d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0)
    d.on_tick(tick("b", 101.0, 102.0, 0.0), 0.0)
    [ep] = d.close_all(3.0)
    assert (ep.closed_at, ep.close_reason, ep.signals) == (3.0, "shutdown", 1)
    assert d.open_episodes() == 0
    assert d.close_all(4.0) == []


def test_outputs_are_episodes_or_signals_only() -> None:
    d = detector(venue("a"), venue("b"))
    out = d.on_tick(tick("a", 99.0, 100.0, 0.0), 0.0) + d.on_tick(tick("b", 101, 102, 0.0), 0.0)
    assert all(isinstance(o, Signal | Episode) for o in out)
    assert episodes(out) == []


def test_a_venue_never_trades_against_itself_across_a_quote_group() -> None:
    d = detector(venue("a"), venue("b"), quote_groups=(("USDT", "USD"),))
    d.on_tick(tick("a", 99.0, 100.0, 0.0, symbol="BTC/USD"), 0.0)
    assert d.on_tick(tick("a", 101.0, 102.0, 0.0, symbol="BTC/USDT"), 0.0) == []
    assert d.best_spreads() == {}
