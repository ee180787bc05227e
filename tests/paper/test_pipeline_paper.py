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


async def test_pipeline_records_paper_trades_like_a_backtest(
    data_dir: Path, metrics: Metrics
) -> None:
    settings = SETTINGS.with_data_dir(data_dir)
    params, _ = params_for_data(settings.exchanges, ["okx", "binance"])
    writer = Writer.open(settings.storage, metrics)
    engine = Engine(settings, params, writer.resume_state(), paper=True)
    pipeline = Pipeline(engine, StorageSink(writer, settings.storage, metrics), metrics)
    queue = TickQueue(100_000)
    now = [0.0]
    ticks = _ticks()
    async with asyncio.timeout(30), asyncio.TaskGroup() as tg:
        tg.create_task(run_pipeline(pipeline, queue, lambda: now[0]))
        # One tick at a time, the clock at its timestamp: the pipeline's `now` is per chunk.
        for i, t in enumerate(ticks, start=1):
            now[0] = t.timestamp
            await queue.put(t)
            while pipeline.accepted < i:  # noqa: ASYNC110 - waits for the consumer's counter
                await asyncio.sleep(0)
        queue.close()  # the engine finishes: pending trades fail as stale

    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        trades = conn.execute(
            "SELECT t.status, t.quantity, t.actual_profit, t.error_message, s.executed"
            " FROM trades AS t JOIN arbitrage_signals AS s ON s.id = t.signal_id ORDER BY t.id"
        ).fetchall()
        snapshots = conn.execute("SELECT count(DISTINCT timestamp) FROM balances").fetchone()[0]
    finally:
        conn.close()
    expected = run_backtest(settings, ticks, params)
    assert [(s, q, p) for s, q, p, _, _ in trades] == [
        (t.status, t.quantity, t.actual_profit) for t in expected.trade_rows
    ]
    assert [e for *_, e in trades] == [1, 0]  # only the filled trade's signal is executed
    assert snapshots >= 3  # start, after each of the two trades
