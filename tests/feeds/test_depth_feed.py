"""depth > 0: the feed follows each symbol's order book through ccxt.pro's own book code
against the fakes' real book wire formats (binance depth diffs, okx books with checksums,
kraken v2 book), hands on every change of the top levels in order, takes its quotes from
the book's top, and turns ccxt's book errors into a counted resync with a gap row, never a
wrong book."""

from __future__ import annotations

import itertools

import pytest

from arbot.feeds.validate import to_book, top_of
from arbot.localmarket import LocalExchange
from arbot.localmarket.books import LOT, Snapshot
from arbot.metrics import Metrics
from arbot.models import Book, Tick
from tests.feeds.conftest import Sink, running, settings, symbols_for
from tests.helpers import sample

DEPTH = 10


def books(sink: Sink) -> list[Book]:
    return [i for i in sink.items if isinstance(i, Book)]


def as_book(snapshot: Snapshot, depth: int) -> tuple[tuple[tuple[float, float], ...], ...]:
    """The fake's book as floats, best `depth` levels a side."""
    scale = 10**snapshot.decimals
    return tuple(
        tuple((p / scale, s / LOT) for p, s in side[:depth])
        for side in (snapshot.bids, snapshot.asks)
    )


@pytest.mark.parametrize("kind", ["binance", "okx", "kraken"])
async def test_books_follow_the_venue_and_quotes_come_from_their_top(kind: str) -> None:
    metrics = Metrics()
    symbol = symbols_for(kind)[0]
    async with LocalExchange(kind, rate=20, symbols=(symbol,)) as fake:
        cfg = settings(kind, fake.url, symbols=(symbol,), depth=DEPTH)
        async with running(cfg, metrics) as sink:
            await sink.wait(lambda: len(books(sink)) >= 15)
            fake.faults.silent = True  # books stand still: compare with the fake's
            settled = len(sink.items)
            await sink.wait(lambda: fake.book(symbol).snapshot() is not None)
            final = as_book(fake.book(symbol).snapshot(), DEPTH)
            await sink.wait(lambda: (books(sink)[-1].bids, books(sink)[-1].asks) == final)
            assert len(sink.items) >= settled
    got = books(sink)
    assert got[0].resync and not any(b.resync for b in got[1:])
    assert all(len(b.bids) == len(b.asks) == DEPTH for b in got)
    # Each handed-on book differs from the one before it (an unchanged top is not repeated).
    assert all((a.bids, a.asks) != (b.bids, b.asks) for a, b in itertools.pairwise(got))
    # Every tick is the top of the book handed on right after it, and only top changes
    # make a tick.
    ticks = [i for i in sink.items if isinstance(i, Tick)]
    for i, item in enumerate(sink.items):
        if isinstance(item, Tick):
            after = sink.items[i + 1]
            assert isinstance(after, Book)
            assert (item.bid, item.bid_size, item.ask, item.ask_size) == (
                *after.bids[0],
                *after.asks[0],
            )
    tops = [(b.bids[0], b.asks[0]) for b in got]
    assert len(ticks) == 1 + sum(a != b for a, b in itertools.pairwise(tops))
    assert sample(metrics, "arbot_book_updates_total", exchange=cfg.name) == len(got)
    assert not sink.gaps and not sink.downs


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_a_sequence_gap_is_a_counted_resync_with_a_gap_row_and_then_the_right_book(
    kind: str,
) -> None:
    metrics = Metrics()
    symbol = symbols_for(kind)[0]
    async with LocalExchange(kind, rate=20, symbols=(symbol,)) as fake:
        cfg = settings(kind, fake.url, symbols=(symbol,), depth=DEPTH)
        async with running(cfg, metrics) as sink:
            await sink.wait(lambda: len(books(sink)) >= 5)
            fake.faults.book_gap = 1
            await sink.wait(lambda: len(sink.gaps) == 1)
            await sink.wait(lambda: len(books(sink)) >= 5 + 5)
            fake.faults.silent = True
            final = as_book(fake.book(symbol).snapshot(), DEPTH)
            await sink.wait(lambda: (books(sink)[-1].bids, books(sink)[-1].asks) == final)
    (gap,) = sink.gaps
    assert gap.reason.startswith(f"book resync {symbol}: ")
    assert sample(metrics, "arbot_book_resyncs_total", exchange=cfg.name) == 1
    after = [b for b in books(sink) if b.received >= gap.end]
    assert after[0].resync and after[0].received == gap.end
    before = [b for b in books(sink) if b.received < gap.end]
    assert gap.start == before[-1].received
    assert not sink.downs  # the connection stayed up: one symbol's book was rebuilt


async def test_rest_mode_polls_books() -> None:
    """mode = "rest": fetch_order_book per symbol each poll; a book only when it changed."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=20, symbols=("BTC/USDT",)) as fake:
        cfg = settings("binance", fake.url, symbols=("BTC/USDT",), depth=5, mode="rest")
        async with running(cfg, metrics) as sink:
            await sink.wait(lambda: len(books(sink)) >= 4)
    got = books(sink)
    assert got[0].resync and all(len(b.bids) == 5 for b in got)
    assert all((a.bids, a.asks) != (b.bids, b.asks) for a, b in itertools.pairwise(got))
    assert [i for i in sink.items if isinstance(i, Tick)]


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([[100.0, 1.0], [101.0, 1.0]], [[102.0, 1.0]], "malformed"),  # bids rising
        ([[100.0, 1.0]], [[102.0, 1.0], [102.0, 2.0]], "malformed"),  # repeated price
        ([[101.0, 1.0]], [[100.0, 1.0]], "crossed"),
        ([[100.0, -1.0]], [[101.0, 1.0]], "negative_size"),
        ([[float("nan"), 1.0]], [[101.0, 1.0]], "not_finite"),
        ([], [[101.0, 1.0]], "missing_price"),
        ([["x", 1.0]], [[101.0, 1.0]], "malformed"),
    ],
)
def test_bad_books_are_rejected_by_reason(
    bids: list[list[float]], asks: list[list[float]], reason: str
) -> None:
    raw = {"symbol": "BTC/USDT", "bids": bids, "asks": asks, "timestamp": None}
    assert to_book("x", raw, 1000.0) == reason


def test_a_good_book_and_its_top() -> None:
    raw = {"symbol": "BTC/USDT", "bids": [[100, 1], [99, 2]], "asks": [[101, 3]], "timestamp": None}
    book = to_book("x", raw, 1000.0)
    assert book == Book(
        "x", "BTC/USDT", ((100.0, 1.0), (99.0, 2.0)), ((101.0, 3.0),), 1000.0, 1000.0
    )
    assert top_of(book) == Tick("x", "BTC/USDT", 100.0, 101.0, 1.0, 3.0, 1000.0, 1000.0)


async def test_auto_mode_polls_books_while_the_book_stream_is_refused_then_returns() -> None:
    """depth > 0, auto: a refused websocket switches to REST snapshots (books keep coming,
    the first after the switch marked resync), and the stream is taken back once it
    accepts again."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=20, symbols=("BTC/USDT",)) as fake:
        cfg = settings("binance", fake.url, symbols=("BTC/USDT",), depth=5, mode="auto")
        async with running(cfg, metrics) as sink:
            await sink.wait(lambda: len(books(sink)) >= 3)
            fake.faults.ws_reject, fake.faults.retry_after = 503, 0.2
            await fake.drop_connections()
            await sink.wait(lambda: fake.requests["/api/v3/depth"] >= 3)
            assert sample(metrics, "arbot_feed_websocket", exchange=cfg.name) == 0
            polled = len(books(sink))
            await sink.wait(lambda: len(books(sink)) >= polled + 2)
            await sink.wait(lambda: fake.ws_rejected >= 1)  # the feed probed the stream
            fake.faults.clear()
            await sink.wait(lambda: sample(metrics, "arbot_feed_websocket", exchange=cfg.name) == 1)
            polls = fake.requests["/api/v3/depth"]
            streamed = len(books(sink))
            await sink.wait(lambda: len(books(sink)) >= streamed + 4)
    assert fake.ws_accepted == 2
    assert fake.requests["/api/v3/depth"] <= polls + 2  # polling stopped (a snapshot resyncs)
    assert len(sink.downs) == 1 and len(sink.gaps) == 1
    assert sum(b.resync for b in books(sink)) >= 2  # the first book, the first after the switch
