"""Order books through the storage sink: they count towards the backlog bound with ticks;
past it (conflate) only the latest book per key waits, every book replaced is counted and
covered by a feed_gaps row, and the book kept is stored as a resync snapshot; with block
the caller waits and nothing is dropped. Every book put is committed, dropped or waiting."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

from tests.helpers import sample, wait_until

from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.records import Output
from arbot.settings import StorageSettings
from arbot.sink import DROP_REASON, StorageSink
from arbot.storage.books import RESYNC, read_book
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import Writer

T0 = 1_760_000_000.0
BOUND = 1000
KEYS = (("okx", "BTC/USDT"), ("binance", "BTC/USDT"), ("okx", "ETH/USDT"))


def books(n: int, start: int = 0) -> list[Book]:
    """n books over three keys, 1 ms apart, each a little different."""
    out = []
    for i in range(start, start + n):
        exchange, symbol = KEYS[i % 3]
        bid = 100 + (i % 50) / 100
        bids = ((bid, 1.0 + i % 7), (bid - 0.01, 2.0))
        asks = ((bid + 0.01, 1.5), (bid + 0.02, 3.0 + i % 5))
        out.append(Book(exchange, symbol, bids, asks, T0 + i / 1000, T0 + i / 1000 + 0.005))
    return out


def ticks(n: int, start: int = 0) -> list[Tick]:
    return [
        Tick("okx", "BTC/USDT", 100.0, 100.1, 1.0, 1.0, T0 + i / 1000, T0 + i / 1000)
        for i in range(start, start + n)
    ]


def storage(data_dir: Path, overflow: str) -> StorageSettings:
    return StorageSettings(
        data_dir=data_dir,
        busy_timeout_ms=0,
        retry_max_seconds=0.02,
        linger_ms=5,
        batch_size=500,
        backlog_max_ticks=BOUND,
        backlog_overflow=overflow,  # type: ignore[arg-type]
    )


async def test_conflates_books_past_the_bound_and_records_the_gap(data_dir: Path) -> None:
    metrics = Metrics()
    st = storage(data_dir, "conflate")
    writer = Writer.open(st, metrics)
    sink = StorageSink(writer, st, metrics)
    task = asyncio.create_task(sink.run())
    lock = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    put = books(3000)
    for i in range(0, 3000, 100):  # put never waits, whatever the writer does
        sink.put(Output(ticks(100, i), books=put[i : i + 100]))
    assert sink.backlog <= BOUND + len(KEYS) + 2
    await asyncio.sleep(0.1)
    lock.execute("COMMIT")
    lock.close()
    await sink.close()
    await task
    await writer.close()
    assert writer.books_committed + sink.books_dropped == len(put)
    assert sink.books_dropped > 0 and writer.committed + sink.dropped == 3000
    assert sample(metrics, "arbot_books_dropped_total", reason=DROP_REASON) == sink.books_dropped
    assert sample(metrics, "arbot_books_committed_total") == writer.books_committed
    conn = open_database(data_dir, "arbot", readonly=True)
    gaps = conn.execute("SELECT exchange, reason FROM feed_gaps").fetchall()
    counted = sum(int(n) for _, r in gaps for n in re.findall(r"(\d+) books not stored", r))
    assert counted == sink.books_dropped
    # The latest book of each key was kept, stored as a snapshot marked resync.
    for exchange, symbol in KEYS:
        last = [b for b in put if (b.exchange, b.symbol) == (exchange, symbol)][-1]
        stored = read_book(conn, exchange, symbol, T0 + 10)
        assert stored is not None and stored.timestamp == last.timestamp
        assert stored.bids == last.bids and stored.asks == last.asks and stored.resync
    kinds = conn.execute("SELECT kind FROM books ORDER BY ts DESC LIMIT 3").fetchall()
    conn.close()
    assert kinds == [(RESYNC,)] * 3


async def test_block_counts_books_towards_the_bound_and_drops_nothing(data_dir: Path) -> None:
    metrics = Metrics()
    st = storage(data_dir, "block")
    writer = Writer.open(st, metrics)
    sink = StorageSink(writer, st, metrics)
    task = asyncio.create_task(sink.run())
    lock = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    sink.put(Output(books=books(3000)))
    assert sink.backlog == 3000
    waiting = asyncio.create_task(sink.room())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    lock.execute("COMMIT")
    lock.close()
    await wait_until(waiting.done)
    await sink.close()
    await task
    await writer.close()
    assert sink.books_dropped == 0
    assert writer.books_committed == 3000
