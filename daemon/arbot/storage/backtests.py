"""SQL of backtests: reading recorded ticks from a data dir and a run's trades, and the
backtest tables (one row per run with its settings, input and range, its totals and its
trades) in backtest.db, or on PostgreSQL (storage/backend.py: the SQL runs on both)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbot.models import Tick
from arbot.rollup import TradeRow
from arbot.storage.portable import Conn, execute, executemany, transaction
from arbot.storage.schema import open_database
from arbot.storage.sqlite.ticks import count_ticks, ticks_in_time_order


@dataclass(frozen=True, slots=True)
class BacktestTrade:
    symbol: str
    buy_exchange: str
    sell_exchange: str
    signal_time: float
    quantity: float
    planned_profit: float
    actual_profit: float | None
    fees_paid: float
    status: str
    error_message: str | None


@dataclass(frozen=True, slots=True)
class BacktestResult:
    ticks: int
    signals: int
    episodes: int
    trades: int
    successful_trades: int
    total_profit: float
    total_fees: float
    max_drawdown: float
    win_rate: float
    avg_profit_percent: float | None
    first_ts: float | None
    last_ts: float | None
    trade_rows: tuple[BacktestTrade, ...]


def read_ticks(data_dir: Path, time_from: float, time_to: float) -> Iterator[Tick]:
    """Quotes of data_dir/arbot.db with time_from <= timestamp < time_to, in time order
    (ties by exchange, symbol), streamed from a read-only connection."""
    conn = open_database(data_dir, "arbot", readonly=True)
    try:
        yield from ticks_in_time_order(conn, time_from, time_to)
    finally:
        conn.close()


def tick_range_info(data_dir: Path, time_from: float, time_to: float) -> tuple[list[str], int]:
    """Every exchange name of data_dir/arbot.db, and the tick count in [from, to)."""
    conn = open_database(data_dir, "arbot", readonly=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM exchanges ORDER BY name")]
        count = count_ticks(conn, time_from, time_to)
    finally:
        conn.close()
    return names, count


def run_trades(conn: sqlite3.Connection) -> tuple[list[TradeRow], tuple[BacktestTrade, ...]]:
    """A run's trades from its in-memory arbot.db: in completion order (for the totals) and
    in id order with their signal times (for backtest_trades)."""
    rows = conn.execute(
        """SELECT t.id, t.symbol, t.status, t.quantity, t.actual_buy_price, t.actual_profit,
                  coalesce(t.fees_paid, 0), t.started_at, t.completed_at, t.buy_exchange,
                  t.sell_exchange, s.timestamp, t.planned_profit, t.error_message
           FROM trades AS t LEFT JOIN arbitrage_signals AS s ON s.id = t.signal_id
           ORDER BY coalesce(t.completed_at, t.started_at), t.id"""
    ).fetchall()
    ordered = [TradeRow(*r[:9]) for r in rows]
    trades = tuple(
        BacktestTrade(r[1], r[9], r[10], r[11], r[3], r[12], r[5], r[6], r[2], r[13])
        for r in sorted(rows, key=lambda r: r[0])
    )
    return ordered, trades


@dataclass(frozen=True, slots=True)
class RunSpec:
    sweep_id: str
    input: str
    time_from: float | None
    time_to: float | None
    settings: Mapping[str, Any]
    overrides: Mapping[str, Any]


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def start_run(conn: Conn, spec: RunSpec) -> int:
    cur = execute(
        conn,
        """INSERT INTO backtest_runs (sweep_id, kind, input, time_from, time_to, settings_json,
               overrides_json, status) VALUES (?, 'backtest', ?, ?, ?, ?, ?, 'running')
           RETURNING id""",
        (
            spec.sweep_id,
            spec.input,
            spec.time_from,
            spec.time_to,
            _json(spec.settings),
            _json(spec.overrides),
        ),
    )
    # fetchall: SQLite commits a RETURNING statement only once it has run to its end.
    [(run_id,)] = cur.fetchall()
    return int(run_id)


def finish_run(conn: Conn, run_id: int, result: BacktestResult) -> None:
    """Store the results and mark the run completed, in one transaction."""
    with transaction(conn):
        execute(
            conn,
            """INSERT INTO backtest_results (run_id, ticks, signals, episodes, trades,
                   successful_trades, total_profit, total_fees, max_drawdown, win_rate,
                   avg_profit_percent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                run_id,
                result.ticks,
                result.signals,
                result.episodes,
                result.trades,
                result.successful_trades,
                result.total_profit,
                result.total_fees,
                result.max_drawdown,
                result.win_rate,
                result.avg_profit_percent,
            ),
        )
        executemany(
            conn,
            """INSERT INTO backtest_trades (run_id, symbol, buy_exchange, sell_exchange,
                   signal_time, quantity, planned_profit, actual_profit, fees_paid, status,
                   error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    run_id,
                    t.symbol,
                    t.buy_exchange,
                    t.sell_exchange,
                    t.signal_time,
                    t.quantity,
                    t.planned_profit,
                    t.actual_profit,
                    t.fees_paid,
                    t.status,
                    t.error_message,
                )
                for t in result.trade_rows
            ],
        )
        if result.first_ts is not None:
            execute(
                conn,
                """UPDATE backtest_runs SET time_from = coalesce(time_from, ?),
                       time_to = coalesce(time_to, ?) WHERE id = ?""",
                (result.first_ts, result.last_ts, run_id),
            )
        execute(
            conn,
            """UPDATE backtest_runs SET status = 'completed', completed_at = CURRENT_TIMESTAMP
               WHERE id = ?""",
            (run_id,),
        )


def fail_run(conn: Conn, run_id: int, error: str) -> None:
    execute(
        conn,
        """UPDATE backtest_runs SET status = 'failed', error_message = ?,
               completed_at = CURRENT_TIMESTAMP WHERE id = ?""",
        (error, run_id),
    )


def run_results(conn: Conn, sweep_id: str) -> list[dict[str, Any]]:
    """The sweep's runs with their totals, in run order (the comparison table)."""
    cur = execute(
        conn,
        """SELECT r.id AS run, r.overrides_json AS overrides, r.status, b.ticks, b.signals,
                  b.episodes, b.trades, b.successful_trades AS filled, b.win_rate,
                  b.total_profit AS profit, b.total_fees AS fees, b.max_drawdown AS drawdown,
                  b.avg_profit_percent AS avg_pct
           FROM backtest_runs AS r LEFT JOIN backtest_results AS b ON b.run_id = r.id
           WHERE r.sweep_id = ? ORDER BY r.id""",
        (sweep_id,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
