"""One face for both storage backends, so a test runs against SQLite and PostgreSQL alike:
raw SQL in the spec's dialect (`?` placeholders, INSERT OR REPLACE), the tick writer, and
ops writing a feed gap in the backend's own SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

from arbot.metrics import Metrics
from arbot.models import FeedGap
from arbot.settings import PostgresSettings
from arbot.storage.gaps import insert_gap
from arbot.storage.pg.connect import connect
from arbot.storage.pg.writer import PgWriter
from arbot.storage.schema import open_database
from arbot.storage.writer import Writer
from tests.helpers import fast_storage

Rows = list[tuple[Any, ...]]


class Db(Protocol):
    name: str

    def execute(self, sql: str, params: Iterable[object] = ()) -> Rows: ...
    def executemany(self, sql: str, rows: Iterable[Iterable[object]]) -> None: ...
    def close(self) -> None: ...


class SqliteDb:
    name = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        self.conn = open_database(data_dir, "arbot")

    def execute(self, sql: str, params: Iterable[object] = ()) -> Rows:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def executemany(self, sql: str, rows: Iterable[Iterable[object]]) -> None:
        self.conn.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


def pg_dialect(sql: str) -> str:
    """The spec's SQLite statement as PostgreSQL takes it: `?` placeholders become `%s`,
    and INSERT OR REPLACE a plain INSERT (the tickers view's trigger upserts)."""
    return sql.replace("?", "%s").replace("INSERT OR REPLACE", "INSERT")


class PgDb:
    name = "postgresql"

    def __init__(self, settings: PostgresSettings) -> None:
        self.conn = connect(settings)

    def execute(self, sql: str, params: Iterable[object] = ()) -> Rows:
        cur = self.conn.execute(pg_dialect(sql), tuple(params))  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Iterable[Iterable[object]]) -> None:
        self.conn.cursor().executemany(pg_dialect(sql), [tuple(r) for r in rows])  # type: ignore[arg-type]

    def close(self) -> None:
        self.conn.close()


class Backend:
    """A fresh database of one backend: raw access, writers, backend-specific errors."""

    def __init__(self, name: str, data_dir: Path, pg: PostgresSettings | None) -> None:
        self.name = name
        self.data_dir = data_dir
        self.pg = pg

    @contextmanager
    def db(self) -> Iterator[Db]:
        db: Db = PgDb(self.pg) if self.pg else SqliteDb(self.data_dir)
        try:
            yield db
        finally:
            db.close()

    def rows(self, sql: str, params: Iterable[object] = ()) -> Rows:
        with self.db() as db:
            return db.execute(sql, params)

    def writer(self, metrics: Metrics) -> Writer | PgWriter:
        if self.pg:
            return PgWriter(self.pg, metrics, retry_max_seconds=0.05)
        return Writer.open(fast_storage(self.data_dir), metrics)

    def gap_op(self, gap: FeedGap, fail: Callable[[], bool] = lambda: False) -> Any:
        """An op writing `gap`, then raising the backend's transient error while `fail()`."""
        if self.pg:

            def pg_op(conn: psycopg.Connection[Any]) -> None:
                conn.execute(
                    'INSERT INTO feed_gaps (exchange, start, "end", reason) VALUES (%s,%s,%s,%s)',
                    (gap.exchange, gap.start, gap.end, gap.reason),
                )
                if fail():
                    raise psycopg.errors.LockNotAvailable("lock not available (test)")

            return pg_op

        def sqlite_op(conn: sqlite3.Connection) -> None:
            insert_gap(conn, gap)
            if fail():
                raise sqlite3.OperationalError("database is locked (test)")

        return sqlite_op

    def failing_op(self) -> Any:
        """An op that fails for good (a CHECK violation, as a bug would): the writer drops
        it and keeps the rest of the batch."""
        bad = FeedGap("okx", 2.0, 1.0, "end before start")
        if self.pg:
            return self.gap_op(bad)
        return lambda conn: conn.execute(
            "INSERT INTO feed_gaps (exchange, start, end, reason) VALUES (?, ?, ?, ?)",
            (bad.exchange, bad.start, bad.end, bad.reason),
        )
