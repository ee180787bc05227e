"""In the daemon's data path (Pipeline + engine + StorageSink + Writer) the paper executor
writes its trades, the executed flag and balance snapshots into arbot.db, and matches a
backtest of the same quotes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from arbot.backtest import run_backtest
from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.pipeline import Pipeline
from arbot.settings import Settings
from arbot.sink import StorageSink
from arbot.storage.sqlite.writer import Writer
from arbot.tick_queue import TickQueue
from arbot.venues import params_for_data
from tests.backtest.data import quotes
from tests.pipeline.helpers import run_pipeline

SETTINGS = Settings.model_validate(
    {"paper": {"enabled": True, "balances": {"okx": {"USDT": 1000.0}, "binance": {"BTC": 2.0}}}}
)


def _ticks() -> list[Tick]:
    return [Tick(ex, sym, bid, ask, bs, asz, ts, ts) for ts, ex, sym, bid, bs, ask, asz in quotes()]


def _daemon_path(settings: Settings, metrics: Metrics) -> Pipeline:
    params, _ = params_for_data(settings.exchanges, ["okx", "binance"])
    writer = Writer.open(settings.storage, metrics)
    engine = Engine(settings, params, writer.resume_state(), paper=True)
    return Pipeline(engine, StorageSink(writer, settings.storage, metrics), metrics)


def _stored_trades(data_dir: Path) -> list[tuple[str, float, float | None, float, int]]:
    """(status, quantity, profit, signal time, signal executed) per trade, in id order."""
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        return conn.execute(
            "SELECT t.status, t.quantity, t.actual_profit, s.timestamp, s.executed"
            " FROM trades AS t JOIN arbitrage_signals AS s ON s.id = t.signal_id ORDER BY t.id"
        ).fetchall()
    finally:
        conn.close()


async def _backtest_trades(
    settings: Settings, ticks: list[Tick]
) -> list[tuple[str, float, float | None, float]]:
    params, _ = params_for_data(settings.exchanges, ["okx", "binance"])
    return [
        (t.status, t.quantity, t.actual_profit, t.signal_time)
        for t in (await run_backtest(settings, ticks, params)).trade_rows
    ]


async def test_pipeline_records_paper_trades_like_a_backtest(
    data_dir: Path, metrics: Metrics
) -> None:
    settings = SETTINGS.with_data_dir(data_dir)
    pipeline = _daemon_path(settings, metrics)
    queue = TickQueue(100_000)
    ticks = _ticks()
    async with asyncio.timeout(30), asyncio.TaskGroup() as tg:
        tg.create_task(run_pipeline(pipeline, queue))
        # One tick at a time: each its own chunk.
        for i, t in enumerate(ticks, start=1):
            await queue.put(t)
            while pipeline.accepted < i:  # noqa: ASYNC110 - waits for the consumer's counter
                await asyncio.sleep(0)
        queue.close()  # the engine finishes: pending trades fail as stale

    trades = _stored_trades(data_dir)
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        snapshots = conn.execute("SELECT count(DISTINCT timestamp) FROM balances").fetchone()[0]
    finally:
        conn.close()
    assert [t[:4] for t in trades] == await _backtest_trades(settings, ticks)
    assert [e for *_, e in trades] == [1, 0]  # only the filled trade's signal is executed
    assert snapshots >= 3  # start, after each of the two trades


async def test_a_chunk_read_late_on_the_wall_clock_makes_the_backtests_trades(
    data_dir: Path, metrics: Metrics
) -> None:
    """All quotes taken from the queue in one chunk, the wall clock read as the last one
    arrived: each instant still runs at its own receive time, so trades and signal times
    are the backtest's. (At one clock reading per chunk every quote in it would be as old
    as the chunk, and every signal in it would get the same fill time.)"""
    settings = SETTINGS.with_data_dir(data_dir)
    pipeline = _daemon_path(settings, metrics)
    queue = TickQueue(100_000)
    ticks = _ticks()
    for t in ticks:
        queue.put_nowait(t)
    queue.close()
    async with asyncio.timeout(30):
        await run_pipeline(pipeline, queue, lambda: ticks[-1].received)

    assert [t[:4] for t in _stored_trades(data_dir)] == await _backtest_trades(settings, ticks)
