"""The storage sink: the engine never waits for arbot.db; past the backlog bound ticks are
conflated (counted, covered by a feed_gaps row) or, by setting, the caller waits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.records import Output
from arbot.settings import StorageSettings
from arbot.sink import DROP_REASON, StorageSink
from arbot.storage.sqlite.writer import Writer

from ..helpers import sample, wait_until

T0 = 1_760_000_000.0
BOUND = 1000


def ticks(n: int, start: int = 0) -> list[Tick]:
    """n ticks alternating between two exchanges, 1 ms apart."""
    ex = ("okx", "binance")
    return [
        Tick(ex[i % 2], "BTC/USDT", 100.0, 100.1, 1.0, 1.0, T0 + i / 1000, T0 + i / 1000)
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


async def test_conflates_past_the_bound_and_records_the_gap(data_dir: Path) -> None:
    metrics = Metrics()
    st = storage(data_dir, "conflate")
    writer = Writer.open(st, metrics)
    sink = StorageSink(writer, st, metrics)
    task = asyncio.create_task(sink.run())
    lock = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    for i in range(0, 5000, 250):  # put never waits, whatever the writer does
        sink.put(Output(ticks(250, i)))
    assert sink.backlog <= BOUND + 2
    await asyncio.sleep(0.1)
    lock.execute("COMMIT")
    lock.close()
    await sink.close()
    await task
    await writer.close()
    conn = sqlite3.connect(data_dir / "arbot.db")
    stored = conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
    gaps = conn.execute("SELECT exchange, start, end, reason FROM feed_gaps ORDER BY 1").fetchall()
    conn.close()
    assert stored + sink.dropped == 5000
    assert sample(metrics, "arbot_ticks_dropped_total", reason=DROP_REASON) == sink.dropped
    assert stored == writer.committed
    assert [g[0] for g in gaps] == ["binance", "okx"]
    assert all(g[3].startswith(f"{DROP_REASON}: ") for g in gaps)
    counts = sum(int(g[3].split(": ")[1].split()[0]) for g in gaps)
    assert counts == sink.dropped > 0
    # The last tick of each exchange was kept, so the stored series ends where the input did.
    conn = sqlite3.connect(data_dir / "arbot.db")
    last = conn.execute("SELECT max(timestamp) FROM tickers").fetchone()[0]
    conn.close()
    assert last == ticks(1, 4999)[0].timestamp


async def test_block_makes_the_caller_wait_and_drops_nothing(data_dir: Path) -> None:
    metrics = Metrics()
    st = storage(data_dir, "block")
    writer = Writer.open(st, metrics)
    sink = StorageSink(writer, st, metrics)
    task = asyncio.create_task(sink.run())
    lock = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    sink.put(Output(ticks(3000)))
    waiting = asyncio.create_task(sink.room())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    lock.execute("COMMIT")
    lock.close()
    await wait_until(waiting.done)
    await sink.close()
    await task
    await writer.close()
    assert sink.dropped == 0
    assert writer.committed == 3000


async def test_more_keys_than_the_bound_still_get_their_latest_tick_stored(
    data_dir: Path,
) -> None:
    metrics = Metrics()
    st = storage(data_dir, "conflate")
    writer = Writer.open(st, metrics)
    sink = StorageSink(writer, st, metrics)
    task = asyncio.create_task(sink.run())
    lock = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    keys = [f"S{i}/USDT" for i in range(1500)]
    for repeat in range(2):
        t = T0 + repeat
        sink.put(Output([Tick("okx", k, 1.0, 1.1, 1.0, 1.0, t, t) for k in keys]))
    lock.execute("COMMIT")
    lock.close()
    await sink.close()
    async with asyncio.timeout(30):
        await task
    await writer.close()
    assert writer.committed + sink.dropped == 3000
    conn = sqlite3.connect(data_dir / "arbot.db")
    latest = conn.execute("SELECT count(*) FROM tickers WHERE timestamp = ?", (T0 + 1,)).fetchone()
    conn.close()
    assert latest == (1500,)
