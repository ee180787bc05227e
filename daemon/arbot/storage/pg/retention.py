"""Retention on PostgreSQL: archive each complete day of ticks older than the retention
window into 1h OHLCV bars, then drop that day's partition whole (no row-by-row DELETE), and
the day's order-book partition with it (each key's next day starts with a snapshot, so the
days kept still rebuild); delete old rows of the other tables.

Crash safety: a day's bars, the watermark `archive_state.archived_until` and the DROP of its
partition commit in ONE transaction, so a day is archived exactly once and dropped only
once archived; a crash anywhere leaves the day either untouched or done. The bars are
computed before the DROP takes its brief exclusive lock on `ticks`, so the writers wait
only for the drop itself. A partition re-created for a day already archived (ticks days
late) is dropped without archiving again: the watermark never moves back (as on SQLite).
Bars are as on SQLite (storage/sqlite/retention.py): mid prices, open/close the first/last mid of
the hour per (symbol, exchange), volume = number of ticks (quote activity, not traded
volume). Runs of several daemons are serialised by an advisory lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from arbot.settings import RetentionSettings
from arbot.storage.pg.books_sql import drop_book_partition
from arbot.storage.pg.partitions import DAY, day_of, partition_days

HOUR = 3600
TIMEFRAME = "1h"
# pg_advisory_lock key of retention runs ('ARBR').
RETENTION_LOCK = 0x41524252

_DAY_BARS = """
INSERT INTO ohlcv (symbol, exchange, timeframe, open_time, close_time, open_price,
                   high_price, low_price, close_price, volume)
SELECT s.name, e.name, %(timeframe)s, g.hour, g.hour + 3599, g.o, g.hi, g.lo, g.c, g.n
FROM (
    SELECT symbol_id, exchange_id, (floor(ts / 3600) * 3600)::bigint AS hour,
           (array_agg((bid + ask) / 2 ORDER BY ts))[1] AS o,
           max((bid + ask) / 2) AS hi, min((bid + ask) / 2) AS lo,
           (array_agg((bid + ask) / 2 ORDER BY ts DESC))[1] AS c, count(*) AS n
    FROM ticks WHERE ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2, 3
) AS g
JOIN symbols AS s ON s.id = g.symbol_id
JOIN exchanges AS e ON e.id = g.exchange_id
ON CONFLICT (symbol, exchange, timeframe, open_time) DO NOTHING
"""
_WATERMARK = """INSERT INTO archive_state (timeframe, archived_until) VALUES (%s, %s)
ON CONFLICT (timeframe) DO UPDATE SET archived_until = EXCLUDED.archived_until"""

# (table, predicate on %(cutoff)s in UNIX seconds, RetentionSettings field). Trades go
# before signals: a kept trade's signal stays (trades.signal_id is a foreign key).
POLICIES = (
    ("trades", "started_at < to_timestamp(%(cutoff)s) AT TIME ZONE 'UTC'", "trades_days"),
    ("balances", "timestamp < %(cutoff)s", "trades_days"),
    (
        "arbitrage_signals",
        "timestamp < %(cutoff)s AND NOT EXISTS "
        "(SELECT 1 FROM trades AS t WHERE t.signal_id = arbitrage_signals.id)",
        "signals_days",
    ),
    ("signal_episodes", "closed_at < %(cutoff)s", "signals_days"),
    ("feed_gaps", '"end" < %(cutoff)s', "tickers_days"),
    (
        "performance_metrics",
        "date < (to_timestamp(%(cutoff)s) AT TIME ZONE 'UTC')::date",
        "performance_metrics_days",
    ),
    (
        "symbol_stats",
        "date < (to_timestamp(%(cutoff)s) AT TIME ZONE 'UTC')::date",
        "performance_metrics_days",
    ),
)


@dataclass(slots=True)
class PruneReport:
    bars_written: int = 0
    archived_until: int | None = None
    partitions_dropped: list[str] = field(default_factory=list)
    book_partitions_dropped: list[str] = field(default_factory=list)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def archived_until(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.execute(
        "SELECT archived_until FROM archive_state WHERE timeframe = %s", (TIMEFRAME,)
    ).fetchone()
    return None if row is None else int(row[0])


def _go_on() -> None:
    pass


def archive_and_drop(
    conn: psycopg.Connection[Any], cutoff: float, check: Callable[[], None] = _go_on
) -> PruneReport:
    """Every partition whose whole day lies before `cutoff`: archive, then drop. `check`
    runs before each day and may raise to stop (each day is done whole or not at all)."""
    report = PruneReport()
    last_day = day_of(cutoff)  # days before it end at or before the cutoff
    for day, name in sorted(partition_days(conn).items()):
        if day >= last_day:
            break
        check()
        start, end = day * DAY, (day + 1) * DAY
        with conn.transaction():
            until = archived_until(conn)
            if until is None or until < end:
                cur = conn.execute(
                    _DAY_BARS,
                    {"timeframe": TIMEFRAME, "start": max(start, until or start), "end": end},
                )
                report.bars_written += max(cur.rowcount, 0)
                conn.execute(_WATERMARK, (TIMEFRAME, end))
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            books = drop_book_partition(conn, name)
        report.partitions_dropped.append(name)
        if books is not None:
            report.book_partitions_dropped.append(books)
    report.archived_until = archived_until(conn)
    return report


def prune(
    conn: psycopg.Connection[Any],
    settings: RetentionSettings,
    now: float,
    check: Callable[[], None] = _go_on,
) -> PruneReport:
    """The whole retention run, one at a time across daemons (a session advisory lock).
    `check` runs between steps and may raise to stop the run."""
    started = time.monotonic()
    conn.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK,))
    try:
        report = archive_and_drop(conn, now - settings.tickers_days * DAY, check)
        for table, predicate, setting in POLICIES:
            check()
            cutoff = now - float(getattr(settings, setting)) * DAY
            # Table names and predicates are constants of this module, never input.
            where = sql.SQL(predicate)
            statement = sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(table)) + where
            with conn.transaction():
                report.rows_deleted[table] = conn.execute(statement, {"cutoff": cutoff}).rowcount
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK,))
    report.seconds = time.monotonic() - started
    return report
