"""With order books (depth > 0) a paper leg fills by walking the first book of its exchange
after the signal: the buy leg up the asks, the sell leg down the bids, capped by the
balances; what one trade takes is gone for the trades settling after it at that book."""

from __future__ import annotations

import pytest

from arbot.engine import Engine
from arbot.models import Book, Tick
from arbot.records import Resume, SignalFound, TradeOpened, TradeSettled
from arbot.settings import PaperSettings
from tests.engine.helpers import params as engine_params
from tests.engine.helpers import settings as engine_settings
from tests.paper.helpers import FEE, Harness, book, book_signal, tick

OKX_ASKS = ((100.0, 1.0), (100.2, 1.0), (100.5, 2.0))
BINANCE_BIDS = ((101.0, 0.5), (100.8, 1.5), (100.6, 3.0))


def paper(**kw: object) -> PaperSettings:
    base: dict[str, object] = {"enabled": True, "latency_ms": 200, "max_fill_wait": 5.0}
    base.update(kw)
    return PaperSettings.model_validate(base)


def test_a_fill_walks_three_levels_of_each_book_at_its_vwap() -> None:
    """2.5 BTC: okx asks 1 @ 100 + 1 @ 100.2 + 0.5 @ 100.5 = 250.45 (VWAP 100.18), binance
    bids 0.5 @ 101 + 1.5 @ 100.8 + 0.5 @ 100.6 = 252.0 (VWAP 100.8); planned at the signal's
    VWAPs 100.1 and 100.9."""
    h = Harness(paper())
    h.signal(book_signal(2.5, buy_vwap=100.1, sell_vwap=100.9), now=0.0)
    [planned] = h.trades()
    assert (planned["planned_buy_price"], planned["planned_sell_price"]) == (100.1, 100.9)
    assert planned["quantity"] == 2.5
    h.instant(book("okx", 0.3, asks=OKX_ASKS), book("binance", 0.3, bids=BINANCE_BIDS))
    [t] = h.trades()
    assert t["status"] == "completed"
    assert t["quantity"] == 2.5
    assert t["actual_buy_price"] == pytest.approx(100.18, rel=1e-12)
    assert t["actual_sell_price"] == pytest.approx(100.8, rel=1e-12)
    fees = 250.45 * FEE + 252.0 * FEE
    assert t["fees_paid"] == pytest.approx(fees, rel=1e-12)
    assert t["actual_profit"] == pytest.approx(252.0 - 250.45 - fees, rel=1e-9)
    assert t["slippage"] == pytest.approx(2.5 * ((100.18 - 100.1) + (100.9 - 100.8)), rel=1e-9)


def test_the_book_wins_over_the_quote_of_its_top() -> None:
    """The feed sends a book's top as a tick of the same instant: the leg walks the book
    (2 BTC at 100 and 100.2), not the top's 1 BTC."""
    h = Harness(paper())
    h.signal(book_signal(2.0, buy_vwap=100.0, sell_vwap=101.0), now=0.0)
    h.instant(
        tick("okx", 99.9, 100.0, ts=0.3, size=1.0),
        book("okx", 0.3, asks=OKX_ASKS),
        tick("binance", 101.0, 101.1, ts=0.3, size=5.0),
    )
    [t] = h.trades()
    assert (t["status"], t["quantity"]) == ("completed", 2.0)
    assert t["actual_buy_price"] == pytest.approx(100.1, rel=1e-12)
    assert t["actual_sell_price"] == 101.0  # binance has no book: its quote's bid


def test_two_fills_of_one_instant_the_second_gets_what_the_first_left() -> None:
    """Trade 1 takes 2.5 of okx's 4 BTC of asks (up to 100.5); trade 2 finds 1.5 left, all at
    100.5; trade 3, failing, names the book and who took it."""
    h = Harness(paper())
    for _ in range(3):
        h.signal(book_signal(2.5, buy_vwap=100.1, sell_vwap=100.9), now=0.0)
    bids = ((101.0, 10.0),)
    h.instant(book("binance", 0.3, bids=bids), book("okx", 0.3, asks=OKX_ASKS))
    first, second, third = h.trades()
    assert (first["status"], first["quantity"]) == ("completed", 2.5)
    assert first["actual_buy_price"] == pytest.approx(250.45 / 2.5, rel=1e-12)
    assert second["status"] == "completed"
    assert second["quantity"] == pytest.approx(1.5, rel=1e-12)
    assert second["actual_buy_price"] == pytest.approx(100.5, rel=1e-12)
    assert (third["status"], third["error_message"]) == (
        "failed",
        "too small: fillable notional 0 USDT < min_trade_amount 1 (quote sizes okx ask book 4 "
        "in 3 levels (trades 1, 2 took 4, 0 left), binance bid book 10 in 1 level (trades 1, 2 "
        "took 4, 6 left))",
    )


def test_what_a_fill_took_stays_gone_until_a_new_book() -> None:
    """Both trades' buy legs fill at okx's book at 0.3; a new okx book comes at 0.4, but the
    trades settle at 0.5 (binance) against the book their legs filled at: trade 2 gets what
    trade 1 left of it. A trade after the new book walks the new book, whole."""
    h = Harness(paper())
    h.signal(book_signal(3.0, buy_vwap=100.1, sell_vwap=100.9), now=0.0)
    h.signal(book_signal(3.0, buy_vwap=100.1, sell_vwap=100.9), now=0.0)
    h.instant(book("okx", 0.3, asks=OKX_ASKS))
    h.instant(book("okx", 0.4, asks=((100.0, 9.0),)))
    h.instant(book("binance", 0.5, bids=((101.0, 10.0),)))
    first, second = h.trades()
    assert (first["quantity"], second["status"]) == (3.0, "completed")
    assert second["quantity"] == pytest.approx(1.0, rel=1e-12)
    assert second["actual_buy_price"] == pytest.approx(100.5, rel=1e-12)
    h.signal(book_signal(3.0, buy_vwap=100.1, sell_vwap=100.9), now=1.0)
    h.instant(book("okx", 1.3, asks=OKX_ASKS), book("binance", 1.3, bids=((101.0, 10.0),)))
    assert h.trades()[2]["quantity"] == 3.0


def test_the_balance_caps_a_fill_through_a_worse_book() -> None:
    """202 USDT on okx fund 1.9978 BTC at the planned VWAP 100 (fee, 1 % headroom); the book
    is worse: 0.5 @ 101, 0.5 @ 102, then 104. The lock pays 202 / 1.001 before fee:
    0.5 + 0.5 + (202 / 1.001 − 50.5 − 51) / 104 BTC, and okx ends with no USDT short."""
    h = Harness(paper(balances={"okx": {"USDT": 202.0}, "binance": {"BTC": 5.0}}))
    h.signal(book_signal(3.0, buy_vwap=100.0, sell_vwap=106.0), now=0.0)
    planned = h.trades()[0]["quantity"]
    assert planned == pytest.approx(202.0 / (100.0 * (1 + FEE) * 1.01), rel=1e-12)
    asks = ((101.0, 0.5), (102.0, 0.5), (104.0, 5.0))
    h.instant(book("okx", 0.3, asks=asks), book("binance", 0.3, bids=((106.0, 5.0),)))
    [t] = h.trades()
    q = 1.0 + (202.0 / (1 + FEE) - 50.5 - 51.0) / 104.0
    assert t["status"] == "completed"
    assert q < planned
    assert t["quantity"] == pytest.approx(q, rel=1e-8)
    assert t["actual_buy_price"] == pytest.approx(202.0 / (1 + FEE) / q, rel=1e-8)
    b = h.executor.balances
    assert 0.0 <= b.free("okx", "USDT") < 1e-6
    assert b.free("okx", "BTC") == pytest.approx(q, rel=1e-8)
    assert b.free("binance", "BTC") == pytest.approx(5.0 - q, rel=1e-8)


def test_a_walk_that_loses_too_much_fails_as_moved_away_at_its_vwap() -> None:
    h = Harness(paper())
    h.signal(book_signal(2.0, buy_vwap=100.0, sell_vwap=100.5), now=0.0)
    h.instant(
        book("okx", 0.3, asks=((100.0, 0.5), (101.0, 1.5))),
        book("binance", 0.3, bids=((100.5, 2.0),)),
    )
    [t] = h.trades()
    assert t["status"] == "failed"
    assert t["error_message"].startswith("moved away: fill would return -0.4479%")
    assert (
        "okx ask 100.75 vs planned 100, binance bid 100.5 vs planned 100.5" in (t["error_message"])
    )


def test_the_engine_hands_later_books_to_the_fill() -> None:
    """Through the engine: okx's and binance's books cross at T0 (a signal through them);
    the trade fills at the next books, walking two levels of each."""
    s = engine_settings(fee=0.0)
    engine = Engine(s, engine_params(s), Resume({}), paper=True)
    t0, t1 = 1_750_000_000.0, 1_750_000_000.5
    okx = ((100.0, 0.5), (100.1, 1.0))
    binance = ((100.6, 0.5), (100.5, 1.0))

    def both(t: float, okx_asks: tuple[tuple[float, float], ...]) -> list[Tick | Book]:
        a = Book("okx", "BTC/USDT", ((99.9, 5.0),), okx_asks, t, t)
        b = Book("binance", "BTC/USDT", binance, ((100.7, 5.0),), t, t)
        return [
            *(
                Tick(
                    x.exchange,
                    x.symbol,
                    x.bids[0][0],
                    x.asks[0][0],
                    x.bids[0][1],
                    x.asks[0][1],
                    t,
                    t,
                )
                for x in (a, b)
            ),
            a,
            b,
        ]

    records = engine.process([*both(t0, okx), *both(t1, ((100.2, 0.5), (100.3, 1.0)))]).records
    [found] = [r for r in records if isinstance(r, SignalFound)]
    assert found.signal.book_trade is not None
    [opened] = [r for r in records if isinstance(r, TradeOpened)]
    [settled] = [r for r in records if isinstance(r, TradeSettled)]
    q = found.signal.book_trade.quantity
    assert opened.params.quantity == q == pytest.approx(1.5)
    assert settled.data.status == "completed"
    assert settled.data.actual_buy_price == pytest.approx((0.5 * 100.2 + 1.0 * 100.3) / 1.5)
    assert settled.data.actual_sell_price == pytest.approx((0.5 * 100.6 + 1.0 * 100.5) / 1.5)
