"""Backtests: recorded quotes and order books through the engine with the paper executor,
in memory.

Source: a file of quotes and books or a data dir's ticks in [from, to) (recorded.py and
storage.ticks). Clock: the data's. Sink: a private in-memory arbot.db with the daemon's
record SQL; the run's totals are read back from it. The executor always runs in a
backtest, whatever paper.enabled says, starting from the configured balances. Exchanges
missing from the config get the defaults of venues.py, as in a replay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from arbot.engine import Engine
from arbot.models import Book, ExchangeParams, Tick
from arbot.recorded import drive
from arbot.records import Output, Resume
from arbot.rollup import summarise
from arbot.settings import Settings
from arbot.storage import backtests as sql
from arbot.storage import functions
from arbot.storage.backtests import BacktestResult
from arbot.storage.schema import migrate
from arbot.storage.sqlite.records_sql import write_records


def memory_db() -> sqlite3.Connection:
    """A private in-memory arbot.db (same schema as the real one, foreign keys on)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    functions.register(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, "arbot", Path(":memory:"))
    return conn


async def run_backtest(
    settings: Settings,
    ticks: Iterable[Tick | Book],
    params: Mapping[str, ExchangeParams],
    progress: Callable[[int], object] | None = None,
) -> BacktestResult:
    """Run `ticks` (and books) through a fresh engine with the paper executor;
    `progress(n)` is told about every chunk of items done."""
    sink = MemorySink()
    try:
        engine = Engine(settings, params, Resume({}), paper=True)
        await drive(engine, ticks, sink, progress)
        last_ts = engine.now if engine.accepted else None
        return _result(sink.conn, engine, sink.first_ts, last_ts)
    finally:
        sink.conn.close()


class MemorySink:
    """A backtest's Sink: the records into a private in-memory arbot.db (one transaction),
    read back for the run's totals; ticks and books are not kept."""

    def __init__(self) -> None:
        self.conn = memory_db()
        self.conn.execute("BEGIN")
        self.first_ts: float | None = None

    def put(self, out: Output) -> None:
        if self.first_ts is None and out.ticks:
            self.first_ts = out.ticks[0].received
        write_records(self.conn, out.records)

    async def room(self) -> None:
        """Never full: nothing waits on a disk."""

    async def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")


def _result(
    conn: sqlite3.Connection, engine: Engine, first_ts: float | None, last_ts: float | None
) -> BacktestResult:
    ordered, trades = sql.run_trades(conn)
    summary = summarise(ordered)
    return BacktestResult(
        ticks=engine.accepted,
        signals=engine.signals,
        episodes=engine.episodes,
        trades=len(trades),
        successful_trades=summary.completed,
        total_profit=summary.profit,
        total_fees=summary.fees,
        max_drawdown=summary.max_drawdown,
        win_rate=summary.win_rate,
        avg_profit_percent=summary.avg_profit_percent,
        first_ts=first_ts,
        last_ts=last_ts,
        trade_rows=trades,
    )
