"""SQL of the daily rollups: read one UTC day's trades and signals, upsert
performance_metrics and symbol_stats (formulas live in arbot.rollup)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta

from arbot.rollup import PerformanceRow, SignalDay, SymbolStatRow, TradeRow
from arbot.storage import portable


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return start, start + 86_400.0


def trades_started(conn: sqlite3.Connection, first: date, last: date) -> list[TradeRow]:
    """Trades whose started_at falls on days first..last (UTC), in completion order."""
    rows = conn.execute(
        """SELECT id, symbol, status, quantity, actual_buy_price, actual_profit,
                  coalesce(fees_paid, 0), started_at, completed_at
           FROM trades WHERE started_at >= ? AND started_at < ?
           ORDER BY coalesce(completed_at, started_at), id""",
        (first.isoformat(), (last + timedelta(days=1)).isoformat()),
    ).fetchall()
    return [TradeRow(*r) for r in rows]


def signals_of_day(conn: sqlite3.Connection, day: date) -> list[SignalDay]:
    start, end = day_bounds(day)
    rows = conn.execute(
        """SELECT symbol, count(*), count(CASE WHEN executed THEN 1 END),
                  avg(profit_percent), max(profit_percent)
           FROM arbitrage_signals WHERE timestamp >= ? AND timestamp < ?
           GROUP BY symbol ORDER BY symbol""",
        (start, end),
    ).fetchall()
    return [SignalDay(*r) for r in rows]


def upsert_performance(conn: portable.Conn, row: PerformanceRow) -> None:
    portable.execute(
        conn,
        """INSERT INTO performance_metrics (date, total_trades, successful_trades, total_profit,
               total_fees, avg_profit_percent, max_drawdown, sharpe_ratio, win_rate,
               avg_trade_duration)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(date) DO UPDATE SET
               total_trades = excluded.total_trades,
               successful_trades = excluded.successful_trades,
               total_profit = excluded.total_profit, total_fees = excluded.total_fees,
               avg_profit_percent = excluded.avg_profit_percent,
               max_drawdown = excluded.max_drawdown, sharpe_ratio = excluded.sharpe_ratio,
               win_rate = excluded.win_rate, avg_trade_duration = excluded.avg_trade_duration""",
        astuple(row),
    )


def replace_symbol_stats(conn: portable.Conn, day: date, rows: Sequence[SymbolStatRow]) -> None:
    """Upsert the day's rows and drop that day's rows of symbols no longer present."""
    portable.executemany(
        conn,
        """INSERT INTO symbol_stats (symbol, date, signals_generated, signals_executed,
               avg_spread, max_spread, total_volume, profitability_score)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(symbol, date) DO UPDATE SET
               signals_generated = excluded.signals_generated,
               signals_executed = excluded.signals_executed,
               avg_spread = excluded.avg_spread, max_spread = excluded.max_spread,
               total_volume = excluded.total_volume,
               profitability_score = excluded.profitability_score""",
        [astuple(r) for r in rows],
    )
    keep = [r.symbol for r in rows]
    # PostgreSQL has no empty IN ().
    gone = f" AND symbol NOT IN ({','.join('?' * len(keep))})" if keep else ""
    portable.execute(
        conn, f"DELETE FROM symbol_stats WHERE date = ?{gone}", (day.isoformat(), *keep)
    )


def performance_of(conn: sqlite3.Connection, day: date) -> PerformanceRow | None:
    row = conn.execute(
        """SELECT date, total_trades, successful_trades, total_profit, total_fees,
                  avg_profit_percent, max_drawdown, sharpe_ratio, win_rate, avg_trade_duration
           FROM performance_metrics WHERE date = ?""",
        (day.isoformat(),),
    ).fetchone()
    return PerformanceRow(*row) if row else None


def symbol_stats_of(conn: sqlite3.Connection, day: date) -> list[SymbolStatRow]:
    rows = conn.execute(
        """SELECT symbol, date, signals_generated, signals_executed, avg_spread, max_spread,
                  total_volume, profitability_score
           FROM symbol_stats WHERE date = ? ORDER BY symbol""",
        (day.isoformat(),),
    ).fetchall()
    return [SymbolStatRow(*r) for r in rows]
