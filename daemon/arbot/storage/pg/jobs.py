"""The daemon's daily jobs on PostgreSQL, and their job_runs in the server's database.

Every shard daemon schedules the same jobs on one database, so each run of a job is taken
under an advisory lock (one per job name) and skipped when `job_runs` shows another daemon
completed it since its scheduled time: each scheduled run happens once, by whichever
daemon gets there first; a daemon that was down or failed still catches up. The lock is
polled (pg_try_advisory_lock) so a stopping daemon never waits for another's job."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import psycopg

from arbot.errors import DatabaseError
from arbot.rollup import previous_utc_day
from arbot.settings import PostgresSettings, RetentionSettings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.errors import one_line
from arbot.storage.pg.partitions import ensure_ahead, partition_days
from arbot.storage.pg.retention import prune as prune_days
from arbot.storage.pg.rollups import run_rollup

# pg_try_advisory_lock(key, job) key of daily jobs ('ARBJ').
JOB_LOCK = 0x4152424A
LOCK_POLL_SECONDS = 0.5

Pause = Callable[[float], None]
Work = Callable[[], dict[str, Any]]


def _job_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF  # an int4


class PgJobRuns:
    """job_runs of the shared database; runs each job once per scheduled time."""

    def __init__(self, settings: PostgresSettings) -> None:
        self._settings = settings

    def completed(self) -> dict[str, float]:
        try:
            with connect(self._settings) as conn:
                rows = conn.execute("SELECT name, completed_at FROM job_runs").fetchall()
        except psycopg.Error as exc:
            raise DatabaseError(f"postgresql: job_runs: {one_line(exc)}") from None
        return {name: float(at) for name, at in rows}

    def run_once(
        self, name: str, scheduled: float, now: float, work: Work, pause: Pause
    ) -> dict[str, Any]:
        """Run `work` unless another daemon completed `name` at or after `scheduled`;
        record the completion at `now`. `pause` waits between lock attempts (and raises
        to stop)."""
        with connect(self._settings) as conn:
            while True:
                (ok,) = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (JOB_LOCK, _job_key(name))
                ).fetchone() or (False,)
                if ok:
                    break
                pause(LOCK_POLL_SECONDS)
            try:
                row = conn.execute(
                    "SELECT completed_at FROM job_runs WHERE name = %s", (name,)
                ).fetchone()
                if row is not None and float(row[0]) >= scheduled:
                    return {"skipped": "done by another daemon", "completed_at": float(row[0])}
                facts = work()
                conn.execute(
                    "INSERT INTO job_runs (name, completed_at) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET completed_at = EXCLUDED.completed_at",
                    (name, now),
                )
                return facts
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (JOB_LOCK, _job_key(name)))


def prune(
    settings: PostgresSettings, retention: RetentionSettings, now: float, check: Callable[[], None]
) -> dict[str, Any]:
    """Archive and drop complete days past retention.tickers_days; delete old rows."""
    with connect(settings, statement_timeout=False) as conn:
        require_owner(
            conn,
            "retention",
            "set retention.enabled = false in the daemons and run `arbot db prune` as the "
            "owner role from a timer (README: Scaling out)",
        )
        report = prune_days(conn, retention, now, check=check)
    return {
        "bars_written": report.bars_written,
        "partitions_dropped": len(report.partitions_dropped),
        "rows_deleted": sum(report.rows_deleted.values()),
        "seconds": round(report.seconds, 3),
    }


def require_owner(conn: psycopg.Connection[Any], what: str, advice: str) -> None:
    """Dropping a partition takes its owner: a role that is not says so before touching
    anything (else the first day would fail on its DROP)."""
    (user, owns) = conn.execute(
        "SELECT current_user, pg_has_role(current_user, relowner, 'USAGE') "
        "FROM pg_class WHERE oid = 'ticks'::regclass"
    ).fetchone() or ("?", False)
    if not owns:
        raise DatabaseError(
            f"{what}: role {user} does not own ticks and cannot drop its day partitions; {advice}"
        )


def create_partitions(settings: PostgresSettings, now: float) -> dict[str, Any]:
    """Today's tick partition and postgresql.partitions_ahead_days more."""
    with connect(settings) as conn:
        ensure_ahead(conn, now, settings.partitions_ahead_days)
        return {"tick_partitions": len(partition_days(conn))}


def rollup(settings: PostgresSettings, now: float) -> dict[str, Any]:
    """The previous UTC day's performance_metrics and symbol_stats, of all shards."""
    with connect(settings) as conn:
        result = run_rollup(conn, previous_utc_day(now))
    return {"trades": result.performance.total_trades, "symbols": len(result.symbols)}
