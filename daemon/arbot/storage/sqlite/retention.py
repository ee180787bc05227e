"""Retention: archive old ticks as 1h OHLCV bars in historical.db, then delete them, and
delete old rows of the other tables, in short chunks so the daemon's writer keeps ingesting.

Crash safety rests on the watermark `archive_state.archived_until` in historical.db:
  1. bars for one complete hour are inserted and the watermark advanced past that hour in the
     SAME historical.db transaction, so an hour is archived exactly once;
  2. only then are ticks with ts < archived_until deleted from arbot.db (chunk by chunk).
A crash between or during the steps leaves ticks that are either still in `ticks` (above the
watermark: archived by the next run) or below it (already in a bar: deleted by the next run).

Tick-derived bars (there are no trades in a quote stream): prices are the mid (bid + ask) / 2;
open/close = the first/last mid of the hour per (symbol, exchange), high/low = max/min mid;
`volume` = number of ticks in the hour (as the spec's archive SQL does, COUNT(*)): a measure of
quote activity, NOT traded volume; `quote_volume` and `trades_count` are NULL (unknown).
The spec's archive SQL is not used as written: `CAST(timestamp / 3600)` lacks `AS INTEGER`;
FIRST_VALUE/LAST_VALUE windows mixed with GROUP BY return one arbitrary row's value per
group, not the first/last of the hour; and it takes open from the bid but close from the ask.
A tick arriving with a timestamp already below the watermark (days late) is deleted without
being archived: the watermark never moves back.
Order books older than tickers_days are deleted too (not archived), per exchange and symbol
up to its last snapshot at or before the cutoff: what remains starts with a snapshot, so it
still rebuilds from the cutoff on (that snapshot and up to 60 s of deltas stay); a key with
nothing newer than the cutoff loses all its rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arbot.errors import DatabaseError
from arbot.settings import RetentionSettings
from arbot.storage.connection import Pragmas
from arbot.storage.schema import open_database
from arbot.storage.sqlite.books_sql import delete_books_before
from arbot.storage.sqlite.ticks import first_tick_time
from arbot.storage.transaction import immediate

HOUR = 3600
DAY = 86_400
TIMEFRAME = "1h"

# Per-hour bars. Ticks are clustered by (symbol_id, ts): CROSS JOIN keeps `symbols` as the
# outer loop so each symbol's hour is one primary-key range scan. Open/close are primary-key
# lookups of the first/last tick of each group, which is correct where the spec's
# FIRST_VALUE/LAST_VALUE-with-GROUP-BY is not.
_HOUR_BARS = """
WITH g AS (
    SELECT t.symbol_id, t.exchange_id, min(t.ts) AS t_open, max(t.ts) AS t_close,
           max((t.bid + t.ask) / 2) AS high, min((t.bid + t.ask) / 2) AS low, count(*) AS n
    FROM symbols AS s CROSS JOIN tick_values AS t
    WHERE t.symbol_id = s.id AND t.ts >= :start AND t.ts < :end
    GROUP BY t.symbol_id, t.exchange_id
)
SELECT s.name, e.name,
       (SELECT (o.bid + o.ask) / 2 FROM tick_values AS o
        WHERE o.symbol_id = g.symbol_id AND o.ts = g.t_open AND o.exchange_id = g.exchange_id),
       g.high, g.low,
       (SELECT (c.bid + c.ask) / 2 FROM tick_values AS c
        WHERE c.symbol_id = g.symbol_id AND c.ts = g.t_close AND c.exchange_id = g.exchange_id),
       g.n
FROM g JOIN symbols AS s ON s.id = g.symbol_id JOIN exchanges AS e ON e.id = g.exchange_id
"""

_INSERT_BAR = """
INSERT INTO ohlcv (symbol, exchange, timeframe, open_time, close_time, open_price, high_price,
                   low_price, close_price, volume, quote_volume, trades_count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
"""


@dataclass(frozen=True, slots=True)
class Policy:
    """Rows of `table` matching `predicate` (bound to :cutoff, UNIX seconds) are deleted."""

    table: str
    predicate: str
    setting: str  # the RetentionSettings field holding the age limit in days


# Order matters: trades go before signals, whose rows a kept trade still references
# (trades.signal_id is a foreign key): such signals stay until their trade is pruned.
POLICIES = (
    Policy("trades", "started_at < datetime(:cutoff, 'unixepoch')", "trades_days"),
    Policy("balances", "timestamp < :cutoff", "trades_days"),
    Policy(
        "arbitrage_signals",
        "timestamp < :cutoff AND id NOT IN "
        "(SELECT signal_id FROM trades WHERE signal_id IS NOT NULL)",
        "signals_days",
    ),
    Policy("signal_episodes", "closed_at < :cutoff", "signals_days"),
    Policy("feed_gaps", "end < :cutoff", "tickers_days"),
    Policy("performance_metrics", "date < date(:cutoff, 'unixepoch')", "performance_metrics_days"),
    Policy("symbol_stats", "date < date(:cutoff, 'unixepoch')", "performance_metrics_days"),
)


@dataclass(slots=True)
class PruneReport:
    bars_written: int = 0
    archive_seconds: float = 0.0
    archived_until: int | None = None
    ticks_deleted: int = 0
    books_deleted: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def archived_until(historical: sqlite3.Connection) -> int | None:
    row = historical.execute(
        "SELECT archived_until FROM archive_state WHERE timeframe = ?", (TIMEFRAME,)
    ).fetchone()
    return None if row is None else int(row[0])


def hour_bars(arbot: sqlite3.Connection, start: int) -> list[tuple[object, ...]]:
    """The bars of the hour [start, start + 3600) as ohlcv rows (without the NULL columns)."""
    rows = arbot.execute(_HOUR_BARS, {"start": start, "end": start + HOUR}).fetchall()
    return [
        (symbol, exchange, TIMEFRAME, start, start + HOUR - 1, o, h, lo, c, n)
        for symbol, exchange, o, h, lo, c, n in rows
    ]


def archive_ticks(
    arbot: sqlite3.Connection,
    historical: sqlite3.Connection,
    cutoff: float,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Archive every complete hour below `cutoff` not archived yet; return the bars written.
    Each hour is one historical.db transaction that also advances the watermark; `pause(0)`
    between hours is where a caller can stop the job (by raising)."""
    target = int(cutoff // HOUR) * HOUR
    until = archived_until(historical)
    written = 0
    while until is None or until < target:
        first = first_tick_time(arbot) if until is None else first_tick_time(arbot, until)
        hour = target if first is None else min(int(first // HOUR) * HOUR, target)
        bars = hour_bars(arbot, hour) if hour < target else []
        until = hour + HOUR if hour < target else target
        with immediate(historical):
            historical.executemany(_INSERT_BAR, bars)
            historical.execute(
                "INSERT INTO archive_state (timeframe, archived_until) VALUES (?, ?) "
                "ON CONFLICT (timeframe) DO UPDATE SET archived_until = excluded.archived_until",
                (TIMEFRAME, until),
            )
        written += len(bars)
        pause(0)
    return written


def delete_ticks_before(
    arbot: sqlite3.Connection,
    until: float,
    chunk_rows: int,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Delete ticks with ts < until, symbol by symbol, about `chunk_rows` per transaction
    (each a primary-key range). After each chunk the connection pauses as long as the chunk
    took, so a waiting writer gets the lock in between (SQLite's busy handler retries after
    1-100 ms sleeps; back-to-back chunks would starve it)."""
    deleted = 0
    for (symbol_id,) in arbot.execute("SELECT id FROM symbols ORDER BY id").fetchall():
        while True:
            # The chunk's last ts, found outside any write transaction.
            row = arbot.execute(
                "SELECT ts FROM ticks WHERE symbol_id = ? AND ts < ? ORDER BY ts LIMIT 1 OFFSET ?",
                (symbol_id, until, chunk_rows - 1),
            ).fetchone()
            started = time.monotonic()
            if row is None:
                n = arbot.execute(
                    "DELETE FROM ticks WHERE symbol_id = ? AND ts < ?", (symbol_id, until)
                ).rowcount
            else:
                # <= so a chunk always makes progress even if many ticks share its last ts.
                n = arbot.execute(
                    "DELETE FROM ticks WHERE symbol_id = ? AND ts <= ?", (symbol_id, row[0])
                ).rowcount
            deleted += n
            if n:
                pause(max(0.005, time.monotonic() - started))
            if row is None:
                break
    return deleted


def delete_old_rows(
    arbot: sqlite3.Connection,
    policy: Policy,
    cutoff: float,
    chunk_rows: int,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Delete the rows `policy` selects, `chunk_rows` per transaction."""
    # Table names and predicates are constants of this module, never input.
    sql = (
        f"DELETE FROM {policy.table} WHERE id IN "
        f"(SELECT id FROM {policy.table} WHERE {policy.predicate} LIMIT :chunk)"
    )
    deleted = 0
    while True:
        started = time.monotonic()
        n = arbot.execute(sql, {"cutoff": cutoff, "chunk": chunk_rows}).rowcount
        deleted += n
        if n < chunk_rows:
            return deleted
        pause(max(0.005, time.monotonic() - started))


def prune(
    data_dir: Path,
    settings: RetentionSettings,
    now: float,
    pragmas: Pragmas | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> PruneReport:
    """Archive and delete ticks older than tickers_days, then apply the other policies."""
    started = time.monotonic()
    report = PruneReport()
    arbot = open_database(data_dir, "arbot", pragmas)
    historical = open_database(data_dir, "historical", pragmas)
    try:
        _prune(arbot, historical, settings, now, pause=pause, report=report)
    except sqlite3.Error as exc:
        raise DatabaseError(f"{data_dir}: retention stopped: {exc}") from None
    finally:
        arbot.close()
        historical.close()
    report.seconds = time.monotonic() - started
    return report


def _prune(
    arbot: sqlite3.Connection,
    historical: sqlite3.Connection,
    settings: RetentionSettings,
    now: float,
    *,
    pause: Callable[[float], None],
    report: PruneReport,
) -> None:
    started = time.monotonic()
    cutoff = now - settings.tickers_days * DAY
    report.bars_written = archive_ticks(arbot, historical, cutoff, pause)
    report.archive_seconds = time.monotonic() - started
    report.archived_until = archived_until(historical)
    if report.archived_until is not None:
        report.ticks_deleted = delete_ticks_before(
            arbot, report.archived_until, settings.chunk_rows, pause
        )
    report.books_deleted = delete_books_before(arbot, cutoff, settings.chunk_rows, pause)
    for policy in POLICIES:
        cutoff = now - float(getattr(settings, policy.setting)) * DAY
        report.rows_deleted[policy.table] = delete_old_rows(
            arbot, policy, cutoff, settings.chunk_rows, pause
        )
