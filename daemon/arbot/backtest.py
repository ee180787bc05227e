"""Backtests: replay recorded quotes through the detector and the paper executor in memory.

The replayed clock is the quotes' own time: each tick is delivered with `now` = its
timestamp (and received = timestamp), so staleness, latency and fill waits are measured in
market time and a run is a pure function of (input, settings). Signals, episodes, trades
and balance snapshots go through the same storage ops as in the daemon, on a private
in-memory arbot.db; the run's totals are then read back from it. The executor always runs
in a backtest, whatever paper.enabled says.

Inputs: the quote CSV of arbot.quotes_csv (rows in any order), or the `tickers` of a data
dir's arbot.db in [from, to). Exchanges missing from the config get the default
ExchangeSettings parameters (fees 0.1 %).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from arbot import quotes_csv
from arbot.detector import Detector
from arbot.errors import ConfigError
from arbot.models import Signal, Tick
from arbot.paper import PaperExecutor
from arbot.rollup import summarise
from arbot.settings import ExchangeSettings, Settings
from arbot.storage import backtests as sql
from arbot.storage import functions
from arbot.storage import signals as signal_ops
from arbot.storage.backtests import BacktestResult
from arbot.storage.exchange_config import ExchangeParams, params_from_settings, params_of
from arbot.storage.ids import IdTable, RowIds
from arbot.storage.schema import migrate
from arbot.storage.writer import Op

PROGRESS_STEP = 1000  # ticks between progress callbacks (a tqdm update costs microseconds)


class DirectSink:
    """OpSink that runs each op at once on one connection (no writer, no batching)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ids = RowIds(conn)

    def submit(self, op: Op) -> None:
        op(self.conn)

    def next_id(self, table: IdTable) -> int:
        return self._ids.allocate(table)


def memory_db() -> sqlite3.Connection:
    """A private in-memory arbot.db (same schema as the real one, foreign keys on)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    functions.register(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, "arbot", Path(":memory:"))
    return conn


def read_csv(path: Path) -> list[Tick]:
    """All quotes of `path`, sorted by time (ties keep file order); errors name file:line."""
    ticks = list(quotes_csv.read_quotes(path, ConfigError, "backtest input", in_order=False))
    ticks.sort(key=lambda t: t.timestamp)
    return ticks


def exchange_params(settings: Settings, seen: Iterable[str]) -> dict[str, ExchangeParams]:
    """Configured exchanges' parameters, plus ExchangeSettings' defaults for exchanges only
    seen in the data."""
    out = params_from_settings(settings.exchanges)
    for name in seen:
        if name not in out:
            out[name] = params_of(ExchangeSettings(id=name, symbols=("X/Y",)))
    return dict(sorted(out.items()))


@dataclass(slots=True)
class _Counts:
    ticks: int = 0
    signals: int = 0
    episodes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


def run_backtest(
    settings: Settings,
    ticks: Iterable[Tick],
    params: Mapping[str, ExchangeParams],
    progress: Callable[[int], object] | None = None,
) -> BacktestResult:
    """Replay `ticks` (in time order) through a fresh detector and paper executor;
    `progress(n)` is told about every PROGRESS_STEP ticks done."""
    conn = memory_db()
    try:
        sink = DirectSink(conn)
        detector = Detector(settings.detector, params)
        executor = PaperExecutor(settings.paper, params, sink, settings.detector.quote_groups)
        n = _Counts()
        now = 0.0
        for tick in ticks:
            now = tick.timestamp
            if n.first_ts is None:
                n.first_ts = now
            n.ticks += 1
            for out in detector.on_tick(tick, now):
                if isinstance(out, Signal):
                    n.signals += 1
                    signal_id = sink.next_id("arbitrage_signals")
                    signal_ops.insert_signal(conn, signal_id, out)
                    executor.on_signal(signal_id, out, now)
                else:
                    n.episodes += 1
                    signal_ops.insert_episode(conn, out)
            executor.on_tick(tick, now)
            if progress is not None and n.ticks % PROGRESS_STEP == 0:
                progress(PROGRESS_STEP)
        if progress is not None:
            progress(n.ticks % PROGRESS_STEP)
        n.last_ts = now if n.ticks else None
        for ep in detector.close_all(now):
            n.episodes += 1
            signal_ops.insert_episode(conn, ep)
        executor.expire_all(now, "input ended before both legs had a quote")
        return _result(conn, n)
    finally:
        conn.close()


def _result(conn: sqlite3.Connection, n: _Counts) -> BacktestResult:
    ordered, trades = sql.run_trades(conn)
    summary = summarise(ordered)
    return BacktestResult(
        ticks=n.ticks,
        signals=n.signals,
        episodes=n.episodes,
        trades=len(trades),
        successful_trades=summary.completed,
        total_profit=summary.profit,
        total_fees=summary.fees,
        max_drawdown=summary.max_drawdown,
        win_rate=summary.win_rate,
        avg_profit_percent=summary.avg_profit_percent,
        first_ts=n.first_ts,
        last_ts=n.last_ts,
        trade_rows=trades,
    )
