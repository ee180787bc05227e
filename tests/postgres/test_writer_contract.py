"""The batch writer's contract (storage.batches.BatchWriter), the same on SQLite and
PostgreSQL: a flush cuts the batch at once and commits it whole in one transaction; records
are written after its ticks, in order; a transient failure is retried until the batch
commits, exactly once; a failing record is dropped without losing the ticks; close commits
what is pending; resume_state reports what a run left."""

from __future__ import annotations

import asyncio

import pytest

from arbot.metrics import Metrics
from arbot.models import BalanceRow, FeedGap, Signal, Tick, TradeParams
from arbot.records import (
    BalanceSnapshot,
    EpisodesOpen,
    OpenEpisodeState,
    SignalExecuted,
    SignalFound,
    TradeOpened,
)
from tests.helpers import sample, wait_until
from tests.postgres.backends import Backend

TICKERS = (
    "SELECT symbol, exchange, bid, ask, bid_size, ask_size, timestamp FROM tickers "
    "ORDER BY timestamp, exchange"
)


def tick(i: int, exchange: str = "binance", symbol: str = "BTC/USDT") -> Tick:
    ts = 1_700_000_000.0 + i
    return Tick(exchange, symbol, 100.0 + i, 100.5 + i, 1.0, None, ts, ts + 0.0125)


def spec_row(t: Tick) -> tuple[object, ...]:
    return (t.symbol, t.exchange, t.bid, t.ask, t.bid_size, t.ask_size, t.timestamp)


async def test_a_flushed_batch_reads_back_through_tickers(
    backend: Backend, metrics: Metrics
) -> None:
    """Every tick of a flushed batch is readable through the spec's `tickers`, names and
    values exact; created_at is the receive time (to the second)."""
    writer = backend.writer(metrics)
    ticks = [tick(0), tick(1, "okx"), tick(2, "okx", "ETH/USDT")]
    writer.add(ticks)
    await writer.flush()
    assert backend.rows(TICKERS) == [spec_row(t) for t in ticks]
    (created,) = backend.rows("SELECT created_at FROM tickers WHERE exchange = 'binance'")[0]
    assert str(created) == "2023-11-14 22:13:20"
    assert writer.committed == 3
    assert sample(metrics, "arbot_ticks_committed_total") == 3
    await writer.close()


async def test_flush_cuts_the_batch_when_called(backend: Backend, metrics: Metrics) -> None:
    """Ticks added after flush() was called belong to the next batch."""
    writer = backend.writer(metrics)
    writer.add([tick(0), tick(1)])
    first = writer.flush()
    writer.add([tick(2)])
    assert writer.pending == 1
    await first
    assert backend.rows("SELECT count(*) FROM tickers") == [(2,)]
    await writer.flush()
    assert backend.rows("SELECT count(*) FROM tickers") == [(3,)]
    await writer.close()


async def test_a_repeated_key_keeps_the_later_quote_once(
    backend: Backend, metrics: Metrics
) -> None:
    """The same (symbol, exchange, timestamp) again, in the same batch or a later one,
    replaces the stored quote: one row, the later values (INSERT OR REPLACE semantics)."""
    writer = backend.writer(metrics)
    writer.add([tick(0), tick(0)._replace(bid=1.0), tick(1)])
    await writer.flush()
    writer.add([tick(1)._replace(bid=2.0), tick(2)])
    await writer.flush()
    assert backend.rows("SELECT timestamp, bid FROM tickers ORDER BY timestamp") == [
        (1_700_000_000.0, 1.0),
        (1_700_000_001.0, 2.0),
        (1_700_000_002.0, 102.0),
    ]
    assert writer.committed == 5
    await writer.close()


async def test_records_commit_with_the_batch_in_order(backend: Backend, metrics: Metrics) -> None:
    writer = backend.writer(metrics)
    writer.add([tick(0)], [FeedGap("okx", 10.0 + i, 20.0, f"r{i}") for i in range(3)])
    await writer.flush()
    assert backend.rows("SELECT reason FROM feed_gaps ORDER BY id") == [("r0",), ("r1",), ("r2",)]
    await writer.close()


async def test_a_transient_failure_retries_the_whole_batch_once_committed(
    backend: Backend, metrics: Metrics
) -> None:
    """A transient error mid-batch rolls everything back (new names too); the retries
    commit every row exactly once and the caller's await returns only then."""
    writer = backend.writer(metrics)
    writer.add([tick(0, "newex", "NEW/USDT"), tick(1)], [FeedGap("okx", 1.0, 2.0, "flaky")])
    async with backend.failing_writes(metrics, times=2):
        await writer.flush()
    assert sample(metrics, "arbot_write_errors_total", kind="locked") >= 2
    assert backend.rows("SELECT count(*) FROM feed_gaps") == [(1,)]
    assert backend.rows("SELECT symbol, exchange FROM tickers ORDER BY timestamp") == [
        ("NEW/USDT", "newex"),
        ("BTC/USDT", "binance"),
    ]
    assert sample(metrics, "arbot_writer_retrying") == 0
    await writer.close()


async def test_retrying_names_the_failure_until_the_batch_commits(
    backend: Backend, metrics: Metrics
) -> None:
    """What /healthz reports: since when and why a batch fails, None once it commits."""
    writer = backend.writer(metrics)
    assert writer.retrying() is None
    writer.add([tick(0)], [FeedGap("okx", 1.0, 2.0, "flaky")])  # PostgreSQL fails on gaps
    async with backend.failing_writes(metrics, times=3):
        flush = asyncio.create_task(writer.flush())
        await wait_until(lambda: writer.retrying() is not None)
        seconds, error = writer.retrying() or (-1.0, "")
        await flush
    assert 0 <= seconds < 30 and error.startswith("locked: "), error
    assert writer.retrying() is None
    await writer.close()


async def test_a_failing_record_is_dropped_and_the_batch_kept(
    backend: Backend, metrics: Metrics
) -> None:
    writer = backend.writer(metrics)
    writer.add([tick(0), tick(1)], [backend.failing_record(), FeedGap("okx", 1.0, 2.0, "kept")])
    await writer.flush()
    assert backend.rows("SELECT count(*) FROM tickers") == [(2,)]
    assert backend.rows("SELECT reason FROM feed_gaps") == [("kept",)]
    assert sample(metrics, "arbot_write_errors_total", kind="other") == 1
    # Counted as lost, by kind, for the metric and the daemon's final line.
    assert sample(metrics, "arbot_records_dropped_total", kind="SignalExecuted") == 1
    assert sample(metrics, "arbot_records_dropped_total", kind="FeedGap") == 0
    assert writer.records_dropped == {"SignalExecuted": 1}
    await writer.close()


async def test_close_commits_what_is_pending(backend: Backend, metrics: Metrics) -> None:
    writer = backend.writer(metrics)
    writer.add(tick(i) for i in range(50))
    await writer.close()
    assert backend.rows("SELECT count(*) FROM tickers") == [(50,)]
    with pytest.raises(RuntimeError, match="closed"):
        writer.add([tick(99)])
        await writer.flush()


async def test_batches_commit_in_the_order_they_were_cut(
    backend: Backend, metrics: Metrics
) -> None:
    """Flushes awaited concurrently still commit in cut order: the later quote of a
    repeated key is the one stored."""
    writer = backend.writer(metrics)
    commits = []
    for bid in (1.0, 2.0, 3.0):
        writer.add([tick(0)._replace(bid=bid)])
        commits.append(asyncio.ensure_future(writer.flush()))
    await asyncio.gather(*commits)
    assert backend.rows("SELECT bid FROM tickers") == [(3.0,)]
    await writer.close()


async def test_resume_state_reports_ids_balances_and_open_episodes(
    backend: Backend, metrics: Metrics
) -> None:
    """The next run continues after the ids this run wrote, with its last balances and
    the episodes it left open."""
    writer = backend.writer(metrics)
    first = await asyncio.to_thread(writer.resume_state)
    sid, tid = first.first_ids["arbitrage_signals"], first.first_ids["trades"]
    signal = Signal(
        "BTC/USDT", "okx", "binance", 100.0, 101.0, 1.0, 1.0, 1.0, 1.0, 0.9, "stable", 5.0, "k"
    )
    trade = TradeParams(sid, "BTC/USDT", "okx", "binance", 100.0, 101.0, 1.0, 1.0)
    episode = OpenEpisodeState(
        "k",
        "BTC/USDT",
        "okx",
        "BTC/USDT",
        "binance",
        "BTC/USDT",
        1.0,
        1.0,
        2,
        1,
        1.0,
        float("-inf"),
    )
    writer.add(
        [tick(0)],
        [
            SignalFound(sid, signal),
            TradeOpened(tid, trade),
            SignalExecuted(sid),
            BalanceSnapshot((BalanceRow("okx", "USDT", 90.0, 10.0),), 5.0),
            EpisodesOpen((episode,)),
        ],
    )
    await writer.close()
    again = await asyncio.to_thread(backend.writer(metrics).resume_state)
    assert again.first_ids == {"arbitrage_signals": sid + 1, "trades": tid + 1}
    assert again.balances == {"okx": {"USDT": 100.0}}
    assert again.episodes == (episode,)
    assert backend.rows("SELECT executed FROM arbitrage_signals") in ([(1,)], [(True,)])
