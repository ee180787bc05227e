"""The daily rollups on PostgreSQL (storage/rollups.py's twin; formulas in arbot.rollup).
Trade times are read back as the text SQLite keeps, so one computation serves both."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg

from arbot.rollup import DailyRollup, SignalDay, TradeRow, compute, window_start
from arbot.storage.rollups import day_bounds, replace_symbol_stats, upsert_performance

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


def run_rollup(conn: Conn, day: date) -> DailyRollup:
    """Compute and upsert `day`'s rows in one transaction."""
    with conn.transaction():
        result = compute(
            day, trades_started(conn, window_start(day), day), signals_of_day(conn, day)
        )
        upsert_performance(conn, result.performance)
        replace_symbol_stats(conn, day, result.symbols)
    return result
