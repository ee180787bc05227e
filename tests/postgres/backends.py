"""One face for both storage backends, so a test runs against SQLite and PostgreSQL alike:
raw SQL in the spec's dialect (`?` placeholders, INSERT OR REPLACE), the batch writer, and
failures injected the backend's own way."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from arbot.metrics import Metrics
from arbot.records import SignalExecuted
from arbot.settings import PostgresSettings, Settings, StorageSettings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.writer import PgWriter
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import Writer
from tests.helpers import fast_storage, sample, wait_until

Rows = list[tuple[Any, ...]]


class Db(Protocol):
    name: str
    conn: Any  # sqlite3 or psycopg (autocommit)

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
        self.conn.executemany(sql, [tuple(r) for r in rows])

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
        cur = self.conn.execute(pg_dialect(sql), tuple(params))
        return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Iterable[Iterable[object]]) -> None:
        self.conn.cursor().executemany(pg_dialect(sql), [tuple(r) for r in rows])

    def close(self) -> None:
        self.conn.close()


class Backend:
    """A fresh database of one backend: raw access, writers, backend-specific errors."""

    def __init__(self, name: str, data_dir: Path, pg: PostgresSettings | None) -> None:
        self.name = name
        self.data_dir = data_dir
        self.pg = pg

    @property
    def settings(self) -> Settings:
        """Daemon settings that choose this backend."""
        if self.pg:
            storage = StorageSettings(backend="postgresql", data_dir=self.data_dir)
            return Settings(storage=storage, postgresql=self.pg)
        return Settings(storage=StorageSettings(data_dir=self.data_dir))

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

    @asynccontextmanager
    async def failing_writes(self, metrics: Metrics, times: int) -> AsyncIterator[None]:
        """The next `times` batch attempts fail with the backend's lock error ("locked"):
        SQLite: another connection holds the write lock until that many failures were
        counted; PostgreSQL: a trigger on feed_gaps raises lock_not_available that often
        (a sequence counts, as it is not rolled back with the batch)."""
        if self.pg:
            with self.db() as db:
                db.execute(f"CREATE SEQUENCE flaky_attempts MAXVALUE {times + 1} CYCLE")
                db.execute(
                    "CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF nextval('flaky_attempts') <= {times} THEN "
                    "RAISE lock_not_available USING MESSAGE = 'test lock'; END IF; "
                    "RETURN NEW; END $$"
                )
                db.execute(
                    "CREATE TRIGGER flaky BEFORE INSERT ON feed_gaps "
                    "FOR EACH ROW EXECUTE FUNCTION flaky()"
                )
            yield
            return
        blocker = sqlite3.connect(self.data_dir / "arbot.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")

        async def release() -> None:
            await wait_until(
                lambda: sample(metrics, "arbot_write_errors_total", kind="locked") >= times
            )
            blocker.execute("ROLLBACK")
            blocker.close()

        task = asyncio.create_task(release())
        yield
        await task

    def failing_record(self) -> SignalExecuted:
        """A record that fails for good (it names a signal that does not exist, as a bug
        would): the writer drops it and keeps the rest of the batch."""
        return SignalExecuted(999)
