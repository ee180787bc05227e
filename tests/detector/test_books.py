"""The executable edge: with order books on both legs a cross is sized through them (q*,
the legs' VWAPs, the profit at q*), opens only when that profit reaches min_profit_quote,
and reports the net edge at detector.sizes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from arbot.detector import Detector
from arbot.detector.depth import Level, best_trade, edge_at_notional
from arbot.models import Book, BookTrade, Episode, Signal, Tick
from tests.detector.helpers import SYMBOL, detector, episodes, settings, signals, tick, venue

FEE = 0.001
# a sells at 100 (0.5) then 100.3; b buys at 100.6 (0.3) then 100.4. The top of book's
# edge is 0.399 %; walking the books, a's second level already costs more than b's second
# bid pays: q* = 0.5, bought at 100 and sold 0.3 at 100.6 and 0.2 at 100.4.
A_ASKS: tuple[Level, ...] = ((100.0, 0.5), (100.3, 2.0), (101.0, 5.0))
B_BIDS: tuple[Level, ...] = ((100.6, 0.3), (100.4, 1.0), (100.0, 5.0))
COST, PROCEEDS = 100.0 * (1 + FEE), (0.3 * 100.6 + 0.2 * 100.4) * (1 - FEE)


def book(exchange: str, bids: tuple[Level, ...], asks: tuple[Level, ...], at: float) -> Book:
    return Book(exchange, SYMBOL, bids, asks, at, at)


def top(b: Book) -> Tick:
    """The tick the feed puts just before a book whose top changed."""
    (bid, bid_size), (ask, ask_size) = b.bids[0], b.asks[0]
    return Tick(b.exchange, b.symbol, bid, ask, bid_size, ask_size, b.timestamp, b.received)


def a_book(at: float) -> Book:
    return book("a", ((99.9, 1.0), (99.8, 1.0)), A_ASKS, at)


def b_book(at: float, bids: tuple[Level, ...] = B_BIDS) -> Book:
    return book("b", bids, ((100.7, 1.0), (100.8, 1.0)), at)


def with_books(**overrides: Any) -> Detector:
    return detector(venue("a", fee=FEE), venue("b", fee=FEE), **overrides)


def book_trade(sig: Signal) -> BookTrade:
    assert sig.book_trade is not None
    return sig.book_trade


def feed(d: Detector, *books: Book, ticks: bool = True) -> list[Signal | Episode]:
    """One instant: each book's top tick (unless only deeper levels changed), then the books."""
    at = books[0].timestamp
    return d.on_instant([top(b) for b in books] if ticks else [], at, books)


def test_books_size_the_trade_and_signal_its_profit() -> None:
    d = with_books()
    [sig] = signals(feed(d, a_book(0.0), b_book(0.0)))
    # Prices and sizes stay the top of book's.
    assert (sig.buy_price, sig.sell_price) == (100.0, 100.6)
    assert sig.buy_size == sig.sell_size == 0.3
    # The executable trade, by hand ...
    bt = book_trade(sig)
    assert bt.quantity == pytest.approx(0.5)
    assert bt.buy_vwap == pytest.approx(100.0)
    assert bt.sell_vwap == pytest.approx((0.3 * 100.6 + 0.2 * 100.4) / 0.5)
    assert sig.profit == pytest.approx(PROCEEDS - 0.5 * COST)
    assert sig.profit_percent == pytest.approx(100 * (PROCEEDS - 0.5 * COST) / (0.5 * COST))
    # ... and as depth.best_trade walks it.
    trade = best_trade(A_ASKS, B_BIDS, taker_buy=FEE, taker_sell=FEE, min_profit_percent=0.1)
    assert trade is not None
    assert (bt.quantity, bt.buy_vwap, bt.sell_vwap) == (
        trade.quantity,
        trade.buy_vwap,
        trade.sell_vwap,
    )
    assert (sig.profit, sig.profit_percent) == (trade.profit, trade.profit_percent)
    # Below the top of book's 0.399 %: the deeper units earn less.
    assert sig.profit_percent < 100 * (100.6 * (1 - FEE) - COST) / COST
    assert bt.size_edges == ()
    assert 0.5 <= sig.confidence <= 1.0


def test_min_profit_quote_blocks_the_opening() -> None:
    profit = PROCEEDS - 0.5 * COST  # 0.1597 at q*
    d = with_books(min_profit_quote=0.16)
    assert feed(d, a_book(0.0), b_book(0.0)) == []
    assert d.open_episodes() == 0
    d = with_books(min_profit_quote=0.15)
    [sig] = signals(feed(d, a_book(0.0), b_book(0.0)))
    assert sig.profit == pytest.approx(profit)


def test_a_book_thinning_below_min_profit_quote_closes_the_episode() -> None:
    """Only b's second level goes (the top is unchanged: a book without a tick): the trade
    through the books makes 0.12 < 0.15, the episode closes as "depth"."""
    d = with_books(min_profit_quote=0.15)
    assert signals(feed(d, a_book(0.0), b_book(0.0)))
    thin = b_book(1.0, ((100.6, 0.3), (100.0, 5.0)))
    [ep] = episodes(feed(d, thin, ticks=False))
    assert (ep.close_reason, ep.closed_at) == ("depth", 1.0)
    assert ep.peak_profit == pytest.approx(PROCEEDS - 0.5 * COST)
    assert d.open_episodes() == 0


def test_net_edge_at_sizes_is_none_where_a_book_is_too_thin() -> None:
    """a's asks hold 755.6 USDT: the edge at 20 and 500 is known, at 10 000 it is not."""
    d = with_books(sizes=(20.0, 500.0, 10_000.0))
    [sig] = signals(feed(d, a_book(0.0), b_book(0.0)))
    fees = {"taker_buy": FEE, "taker_sell": FEE}
    edges = book_trade(sig).size_edges
    assert edges == (
        (20.0, edge_at_notional(A_ASKS, B_BIDS, 20.0, **fees)),
        (500.0, edge_at_notional(A_ASKS, B_BIDS, 500.0, **fees)),
        (10_000.0, None),
    )
    assert edges[0][1] == pytest.approx(100 * (100.6 * (1 - FEE) - COST) / COST)
    edge_500 = edges[1][1]
    assert edge_500 is not None and edge_500 < 0.0  # deep into both books: a loss


def test_the_sell_venues_max_trade_amount_caps_q() -> None:
    """b takes at most 50 USDT: 0.3 at 100.6 and 19.82 / 100.4 at 100.4."""
    d = detector(venue("a", fee=FEE), venue("b", fee=FEE, max_amount=50.0))
    [sig] = signals(feed(d, a_book(0.0), b_book(0.0)))
    bt = book_trade(sig)
    assert bt.quantity == pytest.approx(0.3 + (50.0 - 0.3 * 100.6) / 100.4)
    assert bt.quantity * bt.sell_vwap == pytest.approx(50.0)


def test_the_top_below_min_trade_amount_is_no_bar_through_the_books() -> None:
    """At the top of book 0.3 · 100 = 30 USDT < 40: no trade; the books hold one of 50."""
    venues = (venue("a", fee=FEE, min_amount=40.0), venue("b", fee=FEE))
    d = detector(*venues)
    assert d.on_instant([top(a_book(0.0)), top(b_book(0.0))], 0.0) == []
    d = detector(*venues)
    [sig] = signals(feed(d, a_book(0.0), b_book(0.0)))
    assert book_trade(sig).quantity == pytest.approx(0.5) and sig.buy_size == 0.0


def test_one_leg_without_a_book_is_the_top_of_book_detector() -> None:
    d = with_books()
    [sig] = signals(d.on_instant([top(a_book(0.0)), top(b_book(0.0))], 0.0, [a_book(0.0)]))
    assert sig.book_trade is None
    assert sig.profit == pytest.approx(0.3 * (100.6 * (1 - FEE) - COST))


def test_a_stale_book_is_not_used() -> None:
    """b's book is 6 s old (max_quote_age 5) while its quote is fresh: the top of book."""
    d = with_books(max_leg_skew=100.0)
    d.on_instant([], 0.0, [b_book(0.0)])
    [sig] = signals(feed(d, a_book(6.0)) + d.on_tick(tick("b", 100.6, 100.7, 6.0, size=0.3), 6.0))
    assert sig.book_trade is None


def test_feed_down_drops_the_venues_books() -> None:
    d = with_books(max_leg_skew=100.0)
    assert signals(feed(d, a_book(0.0), b_book(0.0)))
    [ep] = d.on_feed_down("b", 0.5)
    assert ep.close_reason == "feed_down"
    # b's fresh quote after the reconnect, no book yet: sized at the top of book.
    [sig] = signals(d.on_tick(tick("b", 100.6, 100.7, 1.0, size=0.3), 1.0))
    assert sig.book_trade is None


def test_peak_profit_survives_a_restart() -> None:
    d = with_books(max_leg_skew=100.0)
    feed(d, a_book(0.0), b_book(0.0))
    [state] = d.open_state()
    assert state.peak_profit == pytest.approx(PROCEEDS - 0.5 * COST)
    again = with_books(max_leg_skew=100.0)
    assert again.resume([state], 10.0) == []
    [ep] = again.close_all(11.0)
    assert ep.peak_profit == state.peak_profit


def test_min_profit_quote_and_sizes_apply_on_reconfigure() -> None:
    d = with_books()
    venues = {v.exchange: v for v in (venue("a", fee=FEE), venue("b", fee=FEE))}
    assert d.reconfigure(settings(min_profit_quote=0.16, sizes=(20.0,)), venues, 0.0) == []
    assert feed(d, a_book(0.0), b_book(0.0)) == []
    d.reconfigure(settings(min_profit_quote=0.15, sizes=(20.0,)), venues, 1.0)
    [sig] = signals(feed(d, a_book(1.0), b_book(1.0)))
    assert [n for n, _ in book_trade(sig).size_edges] == [20.0]


def test_books_with_an_unchanged_top_keep_the_quote_fresh() -> None:
    """A depth feed sends a tick only when the top changes: books whose top is still the
    quote's confirm it, so a lasting opportunity is not closed as stale after max_quote_age;
    a book of another top does not, and nor does anything after a feed-down."""
    d = with_books(max_quote_age=5.0, cooldown=1000.0)
    assert signals(feed(d, a_book(0.0), b_book(0.0)))
    for t in (3.0, 6.0, 9.0, 12.0):  # only deeper levels change: books, no ticks
        out = feed(d, a_book(t), b_book(t), ticks=False)
        assert not episodes(out), t
    assert d.open_episodes() == 1
    # A book whose top is not the quote's (its tick is missing) confirms nothing: a's quote
    # stays at 12 while b's is confirmed at 15, more than max_leg_skew apart.
    moved = book("a", ((99.9, 1.0),), ((100.05, 0.5), *A_ASKS[1:]), 15.0)
    [ep] = episodes(d.on_instant([], 15.0, [moved, b_book(15.0)]))
    assert ep.close_reason == "skew" and ep.updates == 5


def test_an_instant_of_one_book_gives_what_the_general_path_gives() -> None:
    """One book (with or without its top's tick) takes a shortcut; an extra tick of an
    exchange that is not a leg changes nothing but forces the general path."""
    rng = random.Random(3)
    short, general = with_books(), with_books()
    stranger = Tick("zz", SYMBOL, 1.0, 2.0, 1.0, 1.0, 0.0, 0.0)
    outputs: list[list[Signal | Episode]] = [[], []]
    for i in range(400):
        at = float(i)
        mid = 100.0 + rng.uniform(-0.6, 0.6)
        bids = ((round(mid - 0.1, 2), 0.4), (round(mid - 0.3, 2), 1.0))
        asks = ((round(mid + 0.1, 2), 0.4), (round(mid + 0.3, 2), 1.0))
        b = book(rng.choice("ab"), bids, asks, at)
        ticks = [top(b)] if rng.random() < 0.7 else []
        outputs[0] += short.on_instant(ticks, at, [b])
        outputs[1] += general.on_instant([*ticks, stranger._replace(timestamp=at)], at, [b])
    assert signals(outputs[0]), "the walk must cross now and then"
    assert outputs[0] == outputs[1]
