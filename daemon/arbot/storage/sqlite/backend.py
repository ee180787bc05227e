"""The SQLite backend: arbot.db, historical.db, backtest.db and config.db in the data dir;
one daemon per data dir (its lock file), backups as verified file copies."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.rollup import DailyRollup
from arbot.settings import Settings
from arbot.storage import backtests
from arbot.storage.backend import Backend, BookRange, Db, Report, TickRange
from arbot.storage.batches import BatchWriter
from arbot.storage.connection import DATABASES, Pragmas, db_path, require_databases
from arbot.storage.jobs import ROLLUP_AT, Job, check, pause
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.portable import Conn
from arbot.storage.queries import Queries
from arbot.storage.schema import init_all, make_data_dir, open_database
from arbot.storage.sqlite import books_sql, job_runs, maintenance, retention, rollups, stats
from arbot.storage.sqlite.backup import BackupReport, run_backup
from arbot.storage.sqlite.queries import SQL
from arbot.storage.sqlite.restore import RestoreReport, restore
from arbot.storage.sqlite.writer import Writer


class SqliteBackend(Backend):
    name = "sqlite"
    elsewhere = "another --data-dir"
    local_databases = DATABASES

    def __init__(self, settings: Settings, data_dir: Path | None = None) -> None:
        """`data_dir` reads another data dir than the configured one (backtest
        --from-db DIR)."""
        super().__init__(settings)
        self.data_dir = data_dir or settings.storage.data_dir
        self.pragmas = Pragmas.of(settings.storage)

    def open_writer(self, metrics: Metrics) -> BatchWriter:
        return Writer.open(self.settings.storage, metrics)

    def hold_for_writing(self, held: ExitStack) -> None:
        # A running daemon would hand out the same signal and trade ids.
        held.enter_context(acquire_daemon_lock(self.data_dir))

    def job_runs(self) -> job_runs.SqliteJobRuns:
        return job_runs.SqliteJobRuns(self.data_dir, self.pragmas)

    def daily_jobs(self) -> list[Job]:
        settings, data_dir, pragmas = self.settings, self.data_dir, self.pragmas

        def prune(now: float, stop: threading.Event) -> dict[str, Any]:
            report = retention.prune(
                data_dir, settings.retention, now, pragmas, pause=lambda sec: pause(stop, sec)
            )
            return {
                "bars_written": report.bars_written,
                "ticks_deleted": report.ticks_deleted,
                "books_deleted": report.books_deleted,
                "rows_deleted": sum(report.rows_deleted.values()),
                "seconds": round(report.seconds, 3),
            }

        def backup(now: float, stop: threading.Event) -> dict[str, Any]:
            b = settings.backup
            report = run_backup(
                data_dir,
                settings.backup_dir,
                now,
                compress=b.compress,
                keep_daily=b.keep_daily,
                keep_weekly=b.keep_weekly,
                check=lambda: check(stop),
            )
            if not report.ok:
                failed = "; ".join(f"{db}: {why}" for db, why in report.failed.items())
                raise RuntimeError(f"backup verification failed: {failed}")
            return {"files": len(report.files), "bytes": sum(f.bytes for f in report.files)}

        def performance_rollup(now: float, stop: threading.Event) -> dict[str, Any]:
            rollups.daily_rollup(data_dir, now, pragmas)
            return {}

        jobs = [Job("rollup", ROLLUP_AT, performance_rollup)]
        if settings.retention.enabled:
            jobs.append(Job("retention", settings.retention.run_at, prune))
        if settings.backup.enabled:
            jobs.append(Job("backup", settings.backup.run_at, backup))
        return jobs

    @contextmanager
    def open(self, db: Db) -> Iterator[tuple[Conn, str]]:
        make_data_dir(self.data_dir)
        conn = open_database(self.data_dir, db, self.pragmas)
        try:
            yield conn, str(db_path(self.data_dir, db))
        finally:
            conn.close()

    @contextmanager
    def reader(self) -> Iterator[Queries]:
        require_databases(self.data_dir, "arbot")
        conn = open_database(self.data_dir, "arbot", readonly=True)
        try:
            yield Queries(conn, SQL)
        finally:
            conn.close()

    def init(self, now: float) -> Report:
        versions = init_all(self.data_dir, self.pragmas)
        where = str(self.data_dir)
        return Report(
            {"data_dir": where, "schema_versions": versions},
            {"data_dir": where, **{f"{k}.db": f"schema v{v}" for k, v in versions.items()}},
        )

    def prune(self, now: float) -> Report:
        require_databases(self.data_dir, "arbot", "historical")
        report = retention.prune(self.data_dir, self.settings.retention, now, self.pragmas)
        return Report(
            {
                "bars_written": report.bars_written,
                "archived_until": report.archived_until,
                "ticks_deleted": report.ticks_deleted,
                "books_deleted": report.books_deleted,
                **{f"{table}_deleted": n for table, n in report.rows_deleted.items()},
                "seconds": round(report.seconds, 3),
            }
        )

    def rollup(self, day: date) -> DailyRollup:
        require_databases(self.data_dir, "arbot")
        conn = open_database(self.data_dir, "arbot")
        try:
            return rollups.run_rollup(conn, day)
        finally:
            conn.close()

    def stats(self, now: float) -> list[dict[str, Any]]:
        require_databases(self.data_dir, "arbot")
        return stats.all_stats(self.data_dir, now)

    def explain(self, sql: str, db: str) -> tuple[Any, str]:
        require_databases(self.data_dir, db)
        plan = stats.explain(self.data_dir, db, sql)
        return plan, stats.plan_text(plan)

    def maintain(
        self, now: float, *, reindex: bool, vacuum: bool, vacuum_threshold: float
    ) -> list[dict[str, Any]]:
        require_databases(self.data_dir, *DATABASES)
        return maintenance.maintain(
            self.data_dir,
            self.settings.backup_dir,
            now,
            reindex=reindex,
            vacuum=vacuum,
            vacuum_threshold=vacuum_threshold,
            pragmas=self.pragmas,
        )

    def backup(
        self, dest: Path, now: float, *, compress: bool, databases: Sequence[str]
    ) -> BackupReport:
        require_databases(self.data_dir, *databases)
        b = self.settings.backup
        return run_backup(
            self.data_dir,
            dest,
            now,
            compress=compress,
            keep_daily=b.keep_daily,
            keep_weekly=b.keep_weekly,
            databases=tuple(databases),
        )

    def restore(self, file: Path, db: str, now: float) -> RestoreReport:
        return restore(self.data_dir, file, db, self.settings.backup_dir, now)

    def tick_range(self, start: float, end: float) -> TickRange:
        data_dir = self.data_dir
        require_databases(data_dir, "arbot")
        exchanges, count = backtests.tick_range_info(data_dir, start, end)

        def ticks() -> Iterable[Tick]:
            return backtests.read_ticks(data_dir, start, end)

        return TickRange(exchanges, count, f"{data_dir}/arbot.db", ticks)

    def book_range(self, start: float, end: float) -> BookRange:
        data_dir = self.data_dir
        require_databases(data_dir, "arbot")
        with closing(open_database(data_dir, "arbot", readonly=True)) as conn:
            count = books_sql.count_books(conn, start, end)

        def books() -> Iterator[Book]:
            with closing(open_database(data_dir, "arbot", readonly=True)) as conn:
                yield from books_sql.books_in_range(conn, start, end)

        return BookRange(count, books)
