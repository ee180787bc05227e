"""The daily rollup on SQLite: read a day's trades and signals, compute (arbot.rollup),
upsert performance_metrics and symbol_stats."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from arbot.rollup import DailyRollup, compute, previous_utc_day, window_start
from arbot.storage import rollups as sql
from arbot.storage.connection import Pragmas
from arbot.storage.schema import open_database
from arbot.storage.transaction import immediate


def rollup_day(conn: sqlite3.Connection, day: date) -> DailyRollup:
    """Compute and upsert one day's rows on `conn` (inside the caller's transaction)."""
    window = sql.trades_started(conn, window_start(day), day)
    result = compute(day, window, sql.signals_of_day(conn, day))
    sql.upsert_performance(conn, result.performance)
    sql.replace_symbol_stats(conn, day, result.symbols)
    return result


def daily_rollup(data_dir: Path, now: float, pragmas: Pragmas | None = None) -> DailyRollup:
    """The daemon's after-midnight job: roll up the previous UTC day on a connection of its
    own (one short transaction, like retention's chunks; busy_timeout waits out a batch
    the writer is committing). Blocking: run it in a thread."""
    conn = open_database(data_dir, "arbot", pragmas)
    try:
        return run_rollup(conn, previous_utc_day(now))
    finally:
        conn.close()


def run_rollup(conn: sqlite3.Connection, day: date) -> DailyRollup:
    """Standalone (CLI): the same work in its own transaction."""
    with immediate(conn):
        return rollup_day(conn, day)
