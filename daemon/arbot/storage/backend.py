"""The configured storage backend (storage.backend): the writer of ticks and records for
the daemon and replays, and the database the commands use beside it (replay's `replays`,
backtest runs): a data dir file on SQLite, the server on PostgreSQL, where all four files'
tables share one schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from arbot.metrics import Metrics
from arbot.settings import Settings
from arbot.storage.batches import BatchWriter
from arbot.storage.connection import Pragmas, db_path
from arbot.storage.portable import Conn
from arbot.storage.schema import make_data_dir, open_database
from arbot.storage.writer import Writer


def open_writer(settings: Settings, metrics: Metrics) -> BatchWriter:
    """arbot.db's writer, or PostgreSQL's with storage.backend = "postgresql" (then the data
    dir keeps config.db, the lock file and backups; ticks, signals and trades go to the
    server)."""
    if settings.storage.backend == "postgresql":
        from arbot.storage.pg.writer import PgWriter  # psycopg only where it is used

        return PgWriter.open(settings, metrics)
    return Writer.open(settings.storage, metrics)


@contextmanager
def open_configured(
    settings: Settings, db: Literal["arbot", "backtest"]
) -> Iterator[tuple[Conn, str]]:
    """A connection to the database holding `db`'s tables, created or migrated as the
    daemon's writer would, and its name for messages (a file path, or PostgreSQL db/schema)."""
    st = settings.storage
    if st.backend == "postgresql":
        from arbot.storage.pg.connect import connect  # psycopg only where it is used
        from arbot.storage.pg.schema import describe, migrate

        with connect(settings.postgresql) as pg:
            migrate(pg)
            yield pg, describe(pg)
        return
    make_data_dir(st.data_dir)
    conn = open_database(st.data_dir, db, Pragmas.of(st))
    try:
        yield conn, str(db_path(st.data_dir, db))
    finally:
        conn.close()
