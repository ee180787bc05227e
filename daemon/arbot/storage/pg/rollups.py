"""The daily rollups on PostgreSQL (storage/rollups.py's twin; formulas in arbot.rollup).
Trade times are read back as the text SQLite keeps, so one computation serves both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from datetime import date, timedelta
from typing import Any

import psycopg

from arbot.rollup import DailyRollup, compute, window_start
from arbot.storage.rollups import PerformanceRow, SignalDay, SymbolStatRow, TradeRow, day_bounds

Conn = psycopg.Connection[Any]
_TEXT_TIME = "'YYYY-MM-DD HH24:MI:SS.MS'"


def trades_started(conn: Conn, first: date, last: date) -> list[TradeRow]:
    """Trades whose started_at falls on days first..last (UTC), in completion order."""
    rows = conn.execute(
        f"""SELECT id, symbol, status, quantity, actual_buy_price, actual_profit,
                   coalesce(fees_paid, 0), to_char(started_at, {_TEXT_TIME}),
                   to_char(completed_at, {_TEXT_TIME})
            FROM trades WHERE started_at >= %s::timestamp AND started_at < %s::timestamp
            ORDER BY coalesce(completed_at, started_at), id""",
        (first.isoformat(), (last + timedelta(days=1)).isoformat()),
    ).fetchall()
    return [TradeRow(*r) for r in rows]


def signals_of_day(conn: Conn, day: date) -> list[SignalDay]:
    start, end = day_bounds(day)
    rows = conn.execute(
        """SELECT symbol, count(*), count(*) FILTER (WHERE executed),
                  avg(profit_percent), max(profit_percent)
           FROM arbitrage_signals WHERE timestamp >= %s AND timestamp < %s
           GROUP BY symbol ORDER BY symbol""",
        (start, end),
    ).fetchall()
    return [SignalDay(*r) for r in rows]


def upsert_performance(conn: Conn, row: PerformanceRow) -> None:
    conn.execute(
        """INSERT INTO performance_metrics (date, total_trades, successful_trades, total_profit,
               total_fees, avg_profit_percent, max_drawdown, sharpe_ratio, win_rate,
               avg_trade_duration)
           VALUES (%s::date, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (date) DO UPDATE SET
               total_trades = EXCLUDED.total_trades,
               successful_trades = EXCLUDED.successful_trades,
               total_profit = EXCLUDED.total_profit, total_fees = EXCLUDED.total_fees,
               avg_profit_percent = EXCLUDED.avg_profit_percent,
               max_drawdown = EXCLUDED.max_drawdown, sharpe_ratio = EXCLUDED.sharpe_ratio,
               win_rate = EXCLUDED.win_rate, avg_trade_duration = EXCLUDED.avg_trade_duration""",
        astuple(row),
    )


def replace_symbol_stats(conn: Conn, day: date, rows: Sequence[SymbolStatRow]) -> None:
    """Upsert the day's rows and drop that day's rows of symbols no longer present."""
    conn.cursor().executemany(
        """INSERT INTO symbol_stats (symbol, date, signals_generated, signals_executed,
               avg_spread, max_spread, total_volume, profitability_score)
           VALUES (%s, %s::date, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (symbol, date) DO UPDATE SET
               signals_generated = EXCLUDED.signals_generated,
               signals_executed = EXCLUDED.signals_executed,
               avg_spread = EXCLUDED.avg_spread, max_spread = EXCLUDED.max_spread,
               total_volume = EXCLUDED.total_volume,
               profitability_score = EXCLUDED.profitability_score""",
        [astuple(r) for r in rows],
    )
    conn.execute(
        "DELETE FROM symbol_stats WHERE date = %s::date AND NOT (symbol = ANY(%s))",
        (day.isoformat(), [r.symbol for r in rows]),
    )


def run_rollup(conn: Conn, day: date) -> DailyRollup:
    """Compute and upsert `day`'s rows in one transaction."""
    with conn.transaction():
        result = compute(
            day, trades_started(conn, window_start(day), day), signals_of_day(conn, day)
        )
        upsert_performance(conn, result.performance)
        replace_symbol_stats(conn, day, result.symbols)
    return result
