"""The PostgreSQL backend: one server database (schema from postgresql.conninfo) holds what
the four SQLite files hold; the data dir keeps config.db, the lock file and backups. Each
shard daemon holds its shard (storage/pg/shard.py); backups are pg_dump's job. A server
error met by a command (a right the role lacks, a table gone) is one line, never a
traceback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import psycopg

from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.rollup import DailyRollup
from arbot.storage.backend import Backend, BookRange, Db, Report, TickRange
from arbot.storage.jobs import ROLLUP_AT, Job, check
from arbot.storage.pg import books_sql, commands, jobs, ticks
from arbot.storage.pg.connect import connect
from arbot.storage.pg.errors import command_error
from arbot.storage.pg.queries import SQL
from arbot.storage.pg.schema import check_schema, describe, migrate
from arbot.storage.pg.writer import PgWriter
from arbot.storage.portable import Conn
from arbot.storage.queries import Queries


@contextmanager
def _one_line() -> Iterator[None]:
    """Around a command's work (also as a decorator): psycopg's errors as one line."""
    try:
        yield
    except psycopg.Error as exc:
        raise command_error(exc) from None


class PgBackend(Backend):
    name = "postgresql"
    elsewhere = "another database or schema (postgresql.conninfo)"
    local_databases = ("config",)  # runtime overrides and the exchanges' parameters

    def open_writer(self, metrics: Metrics) -> PgWriter:
        return PgWriter.open(self.settings, metrics)

    def hold_for_writing(self, held: ExitStack) -> None:
        """Nothing more: the writer holds its shard like a daemon."""

    def job_runs(self) -> jobs.PgJobRuns:
        return jobs.PgJobRuns(self.settings.postgresql)

    def daily_jobs(self) -> list[Job]:
        settings = self.settings
        s = settings.postgresql
        daily = [
            Job("rollup", ROLLUP_AT, lambda now, stop: jobs.rollup(s, now)),
            Job("partitions", ROLLUP_AT, lambda now, stop: jobs.create_partitions(s, now)),
        ]
        if settings.retention.enabled:
            daily.append(
                Job(
                    "retention",
                    settings.retention.run_at,
                    lambda now, stop: jobs.prune(s, settings.retention, now, lambda: check(stop)),
                )
            )
        if settings.backup.enabled:
            get_logger(component="scheduler").warning(
                "backup_not_run",
                reason="storage.backend is postgresql: back up the server with pg_dump "
                "(README: Scaling out); set backup.enabled = false to silence this",
            )
        return daily

    def server_bytes(self) -> int:
        return commands.database_bytes(self.settings)

    @contextmanager
    def open(self, db: Db) -> Iterator[tuple[Conn, str]]:
        with _one_line(), connect(self.settings.postgresql) as conn:
            migrate(conn)
            yield conn, describe(conn)

    @contextmanager
    def reader(self) -> Iterator[Queries]:
        with _one_line(), connect(self.settings.postgresql) as conn:
            check_schema(conn)
            yield Queries(conn, SQL)

    @_one_line()
    def init(self, now: float) -> Report:
        return Report(commands.init(self.settings, now))

    @_one_line()
    def prune(self, now: float) -> Report:
        return Report(commands.prune(self.settings, now))

    @_one_line()
    def rollup(self, day: date) -> DailyRollup:
        return commands.rollup(self.settings, day)

    @_one_line()
    def stats(self, now: float) -> dict[str, Any]:
        return commands.stats(self.settings)

    @_one_line()
    def explain(self, sql: str, db: str) -> tuple[Any, str]:
        text = commands.explain(self.settings, sql)
        return {"plan": text.splitlines()}, text

    @_one_line()
    def maintain(
        self, now: float, *, reindex: bool, vacuum: bool, vacuum_threshold: float
    ) -> list[dict[str, Any]]:
        return commands.maintain(self.settings, vacuum=vacuum)

    def backup(
        self, dest: Path, now: float, *, compress: bool, databases: Sequence[str]
    ) -> NoReturn:
        raise commands.refuse_file_command("backup")

    def restore(self, file: Path, db: str, now: float) -> NoReturn:
        raise commands.refuse_file_command("restore")

    @_one_line()
    def tick_range(self, start: float, end: float) -> TickRange:
        server = self.settings.postgresql
        exchanges, count, where = ticks.tick_range_info(server, start, end)

        def read() -> Iterator[Tick]:
            with _one_line():
                yield from ticks.read_ticks(server, start, end)

        return TickRange(exchanges, count, where, read)

    @_one_line()
    def book_range(self, start: float, end: float) -> BookRange:
        server = self.settings.postgresql
        with connect(server) as conn:
            check_schema(conn)
            count = books_sql.count_books(conn, start, end)

        def read() -> Iterator[Book]:
            # No statement timeout: the first fetch sorts the whole range.
            with _one_line(), connect(server, statement_timeout=False) as conn:
                check_schema(conn)
                yield from books_sql.books_in_range(conn, start, end)

        return BookRange(count, read)
