"""The paper executor fills each leg at the first quote after signal time + latency, with
taker fees, limited by sizes and balances, and records why a trade failed."""

from __future__ import annotations

import pytest

from arbot.errors import ConfigError
from arbot.settings import PaperSettings
from tests.paper.helpers import FEE, Harness, signal, tick

FUNDED = {"okx": {"USDT": 1000.0}, "binance": {"BTC": 5.0}}


def paper(**kw: object) -> PaperSettings:
    base: dict[str, object] = {"enabled": True, "latency_ms": 200, "max_fill_wait": 5.0}
    base.update(kw)
    return PaperSettings.model_validate(base)


def test_vanished_spread_never_books_the_signals_profit() -> None:
    """The spread is gone in the next quotes: the trade fails as moved away; it is not
    filled at the signal's own prices."""
    h = Harness(paper())
    h.signal(signal(ask=100.0, bid=101.0), now=0.0)
    h.tick(tick("okx", 100.9, 101.0, ts=0.3))
    h.tick(tick("binance", 100.9, 100.95, ts=0.4))
    [t] = h.trades()
    assert t["status"] == "failed"
    assert t["error_message"].startswith("moved away")
    assert t["actual_profit"] is None
    assert t["planned_profit"] == pytest.approx(1.0 - 100.0 * FEE - 101.0 * FEE)


def test_narrowed_spread_fills_at_the_later_quotes_with_fees_and_slippage() -> None:
    """Buy at the next okx ask, sell at the next binance bid, both legs pay the taker fee;
    slippage is how much worse both prices were than planned."""
    h = Harness(paper())
    h.signal(signal(ask=100.0, bid=101.0), now=0.0)
    h.tick(tick("okx", 100.1, 100.2, ts=0.25))
    h.tick(tick("binance", 100.9, 101.3, ts=0.5))
    [t] = h.trades()
    fees = 100.2 * FEE + 100.9 * FEE
    assert t["status"] == "completed"
    assert (t["actual_buy_price"], t["actual_sell_price"]) == (100.2, 100.9)
    assert t["fees_paid"] == pytest.approx(fees)
    assert t["actual_profit"] == pytest.approx(0.7 - fees)
    assert t["slippage"] == pytest.approx(0.2 + 0.1)
    assert (t["started_at"], t["completed_at"]) == (
        "1970-01-01 00:00:00.000",
        "1970-01-01 00:00:00.500",
    )
    assert (t["buy_order_id"], t["sell_order_id"]) == ("paper-1-buy", "paper-1-sell")


def test_quotes_before_latency_and_the_signals_own_tick_are_not_used() -> None:
    """With 200 ms latency quotes at +0.1 s are skipped; with zero latency the tick that
    raised the signal (delivered after it, same `now`) is skipped too."""
    h = Harness(paper())
    h.signal(signal(), now=0.0)
    h.tick(tick("okx", 99.0, 99.5, ts=0.1))  # a better price, but before the order lands
    h.tick(tick("binance", 101.5, 102.0, ts=0.1))
    h.tick(tick("okx", 99.9, 100.0, ts=0.2))
    h.tick(tick("binance", 100.9, 101.1, ts=0.2))
    [t] = h.trades()
    assert (t["actual_buy_price"], t["actual_sell_price"]) == (100.0, 100.9)

    h0 = Harness(paper(latency_ms=0))
    h0.signal(signal(), now=5.0)
    h0.tick(tick("okx", 99.0, 100.0, ts=5.0))  # the signal's own tick
    h0.tick(tick("binance", 101.0, 102.0, ts=5.0))
    assert h0.trades()[0]["status"] == "pending"
    h0.tick(tick("okx", 99.0, 100.05, ts=5.001))
    h0.tick(tick("binance", 100.95, 102.0, ts=5.001))
    t0 = h0.trades()[0]
    assert (t0["status"], t0["actual_buy_price"]) == ("completed", 100.05)


def test_quantity_is_limited_by_the_fill_quotes_sizes() -> None:
    h = Harness(paper())
    h.signal(signal(size=2.0), now=0.0)
    h.tick(tick("okx", 99.9, 100.0, ts=0.3, size=0.4))
    h.tick(tick("binance", 101.0, 101.1, ts=0.3, size=3.0))
    [t] = h.trades()
    assert (t["status"], t["quantity"]) == ("completed", 0.4)


def test_two_trades_share_one_quotes_size_in_creation_order() -> None:
    """The first trade takes the quote's size; the second finds none left and fails."""
    h = Harness(paper())
    h.signal(signal(size=1.0), now=0.0)
    h.signal(signal(size=1.0), now=0.05)
    h.tick(tick("okx", 99.9, 100.0, ts=0.3, size=1.0))
    h.tick(tick("binance", 101.0, 101.1, ts=0.3, size=5.0))
    first, second = h.trades()
    assert (first["status"], first["quantity"]) == ("completed", 1.0)
    assert (second["status"], second["error_message"]) == (
        "failed",
        "too small: fillable notional 0 USDT < min_trade_amount 1 (quote sizes okx ask 1 "
        "(trade 1 took 1, 0 left), binance bid 5 (trade 1 took 1, 4 left))",
    )


def test_trades_of_one_instant_split_a_shared_quote_by_what_each_fills() -> None:
    """Two trades opened in one instant sell into the same binance bid (3.0). The first can
    buy only 1.0 on okx, so it takes 1.0 of the bid, not its planned 2.5, and the second
    fills the 2.0 left; the kraken quote coming before okx's in the instant changes nothing."""
    h = Harness(paper(), ("okx", "kraken", "binance"))
    h.signal(signal(size=2.5), now=0.0)
    h.signal(signal(size=2.5, buy_exchange="kraken"), now=0.0)
    h.instant(
        tick("binance", 101.0, 101.1, ts=0.3, size=3.0),
        tick("kraken", 99.9, 100.0, ts=0.3, size=5.0),
        tick("okx", 99.9, 100.0, ts=0.3, size=1.0),
    )
    first, second = h.trades()
    assert (first["status"], first["quantity"]) == ("completed", 1.0)
    assert (second["status"], second["quantity"]) == ("completed", 2.0)


def test_a_quote_used_up_by_an_earlier_trade_is_named_with_its_real_size() -> None:
    """The first trade of the instant takes all 3.0 of the binance bid; the second fails,
    and its reason gives the quote's size and who took it, not a bid of 0."""
    h = Harness(paper(), ("okx", "kraken", "binance"))
    h.signal(signal(size=3.0), now=0.0)
    h.signal(signal(size=2.5, buy_exchange="kraken"), now=0.0)
    h.instant(
        tick("binance", 101.0, 101.1, ts=0.3, size=3.0),
        tick("kraken", 99.9, 100.0, ts=0.3, size=5.0),
        tick("okx", 99.9, 100.0, ts=0.3, size=5.0),
    )
    first, second = h.trades()
    assert (first["status"], first["quantity"]) == ("completed", 3.0)
    assert (second["status"], second["error_message"]) == (
        "failed",
        "too small: fillable notional 0 USDT < min_trade_amount 1 (quote sizes kraken ask 5, "
        "binance bid 3 (trade 1 took 3, 0 left))",
    )


def test_a_leg_without_a_quote_goes_stale_after_max_fill_wait() -> None:
    h = Harness(paper(balances=FUNDED))
    h.signal(signal(), now=0.0)
    h.tick(tick("okx", 99.9, 100.0, ts=1.0))
    h.tick(tick("okx", 99.9, 100.0, ts=5.2))  # deadline 0.2 + 5.0: not yet past
    assert h.trades()[0]["status"] == "pending"
    h.tick(tick("okx", 99.9, 100.0, ts=5.3))
    [t] = h.trades()
    assert t["status"] == "failed"
    assert t["error_message"].startswith("stale: no binance bid quote")
    assert t["completed_at"] == "1970-01-01 00:00:05.300"
    assert h.executor.balances.free("okx", "USDT") == 1000.0  # lock released
    assert h.executor.balances.locked("binance", "BTC") == 0.0


def test_unfundable_trade_fails_at_once_and_leaves_balances_alone() -> None:
    h = Harness(paper(balances={"okx": {"USDT": 0.5}, "binance": {"BTC": 5.0}}))
    h.signal(signal(), now=0.0)
    [t] = h.trades()
    assert t["status"] == "failed"
    assert "unfundable: okx has 0.5 USDT free" in t["error_message"]
    assert h.executor.balances.free("okx", "USDT") == 0.5
    assert h.executor.pending() == 0


def test_funding_limits_quantity_and_completed_trade_moves_balances() -> None:
    """USDT on okx pays for the buy incl. fee; BTC on binance is sold; the signal is marked
    executed and a snapshot is written."""
    h = Harness(paper(balances={"okx": {"USDT": 50.0}, "binance": {"BTC": 5.0}}))
    sid = h.signal(signal(size=1.0), now=0.0)
    planned_q = 50.0 / (100.0 * (1 + FEE) * (1 + PaperSettings().lock_headroom))
    assert h.trades()[0]["quantity"] == pytest.approx(planned_q)
    assert h.executor.balances.locked("binance", "BTC") == pytest.approx(planned_q)
    h.tick(tick("okx", 99.9, 100.0, ts=0.3))
    h.tick(tick("binance", 101.0, 101.1, ts=0.3))
    [t] = h.trades()
    q = t["quantity"]
    b = h.executor.balances
    assert t["status"] == "completed" and q == pytest.approx(planned_q)
    assert b.free("okx", "USDT") == pytest.approx(50.0 - q * 100.0 * (1 + FEE))
    assert b.free("okx", "BTC") == pytest.approx(q)
    assert b.free("binance", "BTC") == pytest.approx(5.0 - q)
    assert b.free("binance", "USDT") == pytest.approx(q * 101.0 * (1 - FEE))
    assert b.locked("okx", "USDT") == 0.0
    executed = h.conn.execute("SELECT executed FROM arbitrage_signals WHERE id = ?", (sid,))
    assert executed.fetchone()[0] == 1
    last = h.conn.execute(
        "SELECT total_balance FROM balances WHERE exchange = 'binance' AND asset = 'USDT'"
        " ORDER BY timestamp DESC LIMIT 1"
    ).fetchone()[0]
    assert last == pytest.approx(q * 101.0 * (1 - FEE))


def test_filters_skip_weak_signals_without_a_trade() -> None:
    h = Harness(paper(min_confidence=0.95, min_profit_percent=0.5))
    h.signal(signal(confidence=0.9), now=0.0)
    h.signal(signal(ask=100.0, bid=100.3), now=0.0)
    assert h.trades() == []
    h.signal(signal(confidence=0.99), now=0.0)
    assert len(h.trades()) == 1


def test_snapshots_follow_the_interval_in_replayed_time() -> None:
    h = Harness(paper(balances=FUNDED, snapshot_interval=10.0))
    for ts in (0.0, 4.0, 9.9, 10.0, 15.0, 20.5):
        h.tick(tick("kraken", 1.0, 1.1, ts=ts))
    times = [r[0] for r in h.conn.execute("SELECT DISTINCT timestamp FROM balances")]
    assert times == [0.0, 10.0, 20.5]


def test_expire_all_fails_pending_trades_with_the_reason() -> None:
    h = Harness(paper())
    h.signal(signal(), now=0.0)
    h.executor.expire_all(1.0, "input ended")
    [t] = h.trades()
    assert (t["status"], t["error_message"]) == ("failed", "stale: input ended")


def test_balances_for_an_unknown_exchange_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"paper\.balances\.bnance: no such exchange"):
        Harness(paper(balances={"bnance": {"USDT": 1.0}}))
