"""The pipeline: every tick to the detector, batches cut by size or linger, backpressure,
conflation, detector output persisted, and accepted == committed + skipped at the end."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from arbot.metrics import Metrics
from arbot.models import FeedDown, FeedGap, QueueItem
from arbot.pipeline import Pipeline
from arbot.tick_queue import TickQueue
from tests.helpers import fast_storage, read, sample, wait_until
from tests.pipeline.helpers import (
    T0,
    RecordingExecutor,
    ScriptedDetector,
    daemon_pipeline,
    run_pipeline,
    tick,
    writer_of,
)


async def run_all(pipeline: Pipeline, items: list[QueueItem], size: int = 100_000) -> None:
    queue = TickQueue(size)
    for item in items:
        queue.put_nowait(item)
    queue.close()
    await run_pipeline(pipeline, queue)


async def test_every_tick_reaches_the_detector_and_the_database(
    data_dir: Path, metrics: Metrics
) -> None:
    """After the sentinel everything taken is committed: accepted == committed."""
    detector, executor = ScriptedDetector(), RecordingExecutor()
    pipeline = daemon_pipeline(fast_storage(data_dir, batch_size=64), metrics, detector, executor)
    ticks = [tick(i / 10, ex) for i in range(300) for ex in ("binance", "okx")]
    await run_all(pipeline, list(ticks))
    assert detector.ticks == ticks
    assert executor.ticks == 600
    assert pipeline.accepted == pipeline.committed == 600
    assert read(data_dir, "SELECT count(*) FROM tickers") == [(600,)]
    assert sample(metrics, "arbot_ticks_accepted_total") == 600
    assert sample(metrics, "arbot_ticks_committed_total") == 600
    assert sample(metrics, "arbot_opportunities_open") == 1
    assert sample(metrics, "arbot_best_net_spread_percent", symbol="BTC/USDT") == 0.25


async def test_a_batch_is_cut_at_batch_size(data_dir: Path, metrics: Metrics) -> None:
    """With a long linger, full batches commit and the remainder waits for more."""
    pipeline = daemon_pipeline(fast_storage(data_dir, batch_size=100, linger_ms=60_000), metrics)
    writer = writer_of(pipeline)
    queue = TickQueue(1000)
    for i in range(250):
        queue.put_nowait(tick(i))
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(run_pipeline(pipeline, queue))
        await wait_until(lambda: writer.committed == 200)
        await asyncio.sleep(0.05)
        assert writer.committed == 200
        assert pipeline.sink.backlog == 50
        assert sample(metrics, "arbot_batch_rows_count") == 2
        queue.close()
    assert run.done()
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(250,)]


async def test_a_partial_batch_commits_after_linger(data_dir: Path, metrics: Metrics) -> None:
    """A trickle of ticks is committed linger_ms after the first, without a full batch."""
    pipeline = daemon_pipeline(fast_storage(data_dir, batch_size=10_000, linger_ms=20), metrics)
    writer = writer_of(pipeline)
    queue = TickQueue(1000)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_pipeline(pipeline, queue))
        for i in range(3):
            await queue.put(tick(i))
        await wait_until(lambda: read(data_dir, "SELECT count(*) FROM ticks") == [(3,)])
        await queue.put(tick(3))
        await wait_until(lambda: writer.committed == 4)
        queue.close()
    assert pipeline.accepted == 4


async def test_a_locked_database_with_overflow_block_holds_back_the_feeds_and_loses_nothing(
    data_dir: Path, metrics: Metrics
) -> None:
    """backlog_overflow = "block": while the write lock is held elsewhere the batch retries,
    the backlog fills to its bound, the pipeline waits, the queue fills and put() waits;
    once released the backlog is committed in full."""
    settings = fast_storage(
        data_dir,
        batch_size=10,
        linger_ms=5,
        queue_size=20,
        backlog_max_ticks=1000,
        backlog_overflow="block",
    )
    pipeline = daemon_pipeline(settings, metrics)
    writer = writer_of(pipeline)
    queue = TickQueue(settings.queue_size)
    blocker = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    total = 2000
    put = 0

    async def feed() -> None:
        nonlocal put
        for i in range(total):
            await queue.put(tick(i))
            put += 1

    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_pipeline(pipeline, queue))
        producer = tg.create_task(feed())
        await wait_until(
            lambda: queue.full() and sample(metrics, "arbot_write_errors_total", kind="locked") >= 2
        )
        assert not producer.done()
        assert put < total
        assert writer.committed == 0
        assert pipeline.sink.backlog >= settings.backlog_max_ticks
        assert sample(metrics, "arbot_writer_retrying") == 1
        blocker.execute("ROLLBACK")
        blocker.close()
        await producer
        queue.close()
    assert pipeline.accepted == pipeline.committed == total
    assert pipeline.sink.dropped == 0
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(total,)]
    assert sample(metrics, "arbot_writer_retrying") == 0


async def test_conflation_and_skip_unchanged_thin_storage_not_detection(
    data_dir: Path, metrics: Metrics
) -> None:
    """Per key, at most one stored tick per conflate_ms and no repeat of an unchanged quote;
    the detector still sees every tick and the counts add up."""
    detector = ScriptedDetector()
    pipeline = daemon_pipeline(
        fast_storage(data_dir, conflate_ms=1000, skip_unchanged=True), metrics, detector
    )
    ticks = [
        tick(0.0, bid=100.0),  # stored: first of its key
        tick(0.1, "okx", bid=100.0),  # stored: another key
        tick(0.5, bid=101.0),  # conflated: 0.5 s after the stored one
        tick(1.5, bid=100.0),  # unchanged: same quote as the stored one
        tick(2.0, bid=102.0),  # stored
        tick(2.9, bid=103.0),  # conflated
        tick(3.0, bid=103.0),  # stored: 1.0 s later, changed
    ]
    await run_all(pipeline, list(ticks))
    assert detector.ticks == ticks
    stored = read(
        data_dir, "SELECT exchange, round(timestamp - 1700000000, 3) FROM tickers ORDER BY 2"
    )
    assert stored == [("binance", 0.0), ("okx", 0.1), ("binance", 2.0), ("binance", 3.0)]
    assert (pipeline.accepted, pipeline.committed, pipeline.skipped) == (7, 4, 3)
    assert sample(metrics, "arbot_ticks_skipped_total", reason="conflated") == 2
    assert sample(metrics, "arbot_ticks_skipped_total", reason="unchanged") == 1


async def test_signals_get_the_ids_they_are_committed_with(
    data_dir: Path, metrics: Metrics
) -> None:
    """The paper executor learns each signal's id before commit; the committed rows carry
    those ids. Feed down closes episodes (stored); a feed gap becomes a feed_gaps row."""
    detector, executor = ScriptedDetector(signal_at=frozenset({102.0, 105.0})), RecordingExecutor()
    pipeline = daemon_pipeline(fast_storage(data_dir, batch_size=3), metrics, detector, executor)
    items: list[QueueItem] = [tick(i) for i in range(8)]
    items += [FeedDown("okx", T0 + 9, "closed"), FeedGap("okx", T0 + 9, T0 + 12, "reconnected")]
    await run_all(pipeline, items)
    ids = [signal_id for signal_id, _ in executor.signals]
    assert len(ids) == 2
    rows = read(data_dir, "SELECT id, timestamp - 1700000000 FROM arbitrage_signals ORDER BY id")
    assert rows == [(ids[0], 2.0), (ids[1], 5.0)]
    assert detector.feed_downs == ["okx"]
    assert read(data_dir, "SELECT episode_key FROM signal_episodes") == [("down-okx",)]
    assert read(data_dir, "SELECT exchange, end - start, reason FROM feed_gaps") == [
        ("okx", 3.0, "reconnected")
    ]
    assert sample(metrics, "arbot_signals_recorded_total") == 2
    assert sample(metrics, "arbot_episodes_closed_total") == 1


async def test_a_record_without_ticks_is_flushed_by_linger(
    data_dir: Path, metrics: Metrics
) -> None:
    """A record that comes with no tick (a feed gap) commits linger_ms later, no tick needed."""
    pipeline = daemon_pipeline(fast_storage(data_dir, linger_ms=10), metrics)
    queue = TickQueue(10)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_pipeline(pipeline, queue))
        await queue.put(FeedGap("kraken", 1.0, 2.0, "reconnected"))
        await wait_until(lambda: read(data_dir, "SELECT count(*) FROM feed_gaps") == [(1,)])
        queue.close()


async def test_differing_quotes_in_one_exchange_millisecond_are_all_stored(
    data_dir: Path, metrics: Metrics
) -> None:
    """Several different quotes of one key stamped with the same exchange millisecond each
    get a row (1 µs apart, in arrival order); an identical resend still replaces its row."""
    pipeline = daemon_pipeline(fast_storage(data_dir), metrics)
    same_ms = [tick(0.5, bid=100.0 + k) for k in range(3)]
    resend = same_ms[2]
    other_exchange = tick(0.5, "okx", bid=100.0)
    await run_all(pipeline, [tick(0), *same_ms, resend, other_exchange, tick(1)])
    rows = read(
        data_dir,
        "SELECT exchange, timestamp, bid FROM tickers"
        " WHERE exchange = 'binance' ORDER BY timestamp",
    )
    assert [bid for _, _, bid in rows] == [100.0, 100.0, 101.0, 102.0, 101.0]
    stamps = [float(ts) for _, ts, _ in rows]  # type: ignore[arg-type]
    assert stamps[1] == T0 + 0.5
    assert abs(stamps[2] - stamps[1] - 1e-6) < 1e-7
    assert abs(stamps[3] - stamps[2] - 1e-6) < 1e-7
    assert read(data_dir, "SELECT count(*) FROM tickers WHERE exchange = 'okx'") == [(1,)]
