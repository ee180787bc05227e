"""The books table on PostgreSQL (pg_003.sql): the writer's rows by binary COPY, and the
day partitions retention drops with the ticks'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from arbot.models import Book
from arbot.storage.book_rows import COLUMNS, BookRows, IdKey

COPY_SQL = f"COPY books ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
TYPES = ("int4", "int4", "float8", "int2", "int8", "bytea")
UPSERT_SQL = (
    f"INSERT INTO books ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (symbol_id, exchange_id, ts) DO UPDATE SET kind = EXCLUDED.kind, "
    "recv_delta_ms = EXCLUDED.recv_delta_ms, levels = EXCLUDED.levels"
)
# Each key's newest row: a backward primary-key scan per partition, newest day first.
_LAST_ROWS = """SELECT k.s, k.e, b.ts, b.kind FROM unnest(%s::int4[], %s::int4[]) AS k(s, e)
CROSS JOIN LATERAL (SELECT ts, kind FROM books
    WHERE symbol_id = k.s AND exchange_id = k.e ORDER BY ts DESC LIMIT 1) AS b"""


class PgBooks:
    """The writer's book rows, inside its transaction."""

    def __init__(self) -> None:
        self.encoder = BookRows()

    def write(
        self,
        conn: psycopg.Connection[Any],
        books: Sequence[Book],
        symbols: Mapping[str, int],
        exchanges: Mapping[str, int],
        *,
        upsert: bool,
    ) -> None:
        """COPY the rows of `books` (their names must have ids); rows that may replace a
        stored one, or all of them with `upsert`, go in by INSERT ... ON CONFLICT."""

        def stored(keys: list[IdKey]) -> dict[IdKey, tuple[float, int]]:
            found = conn.execute(_LAST_ROWS, ([s for s, _ in keys], [e for _, e in keys]))
            return {(s, e): (ts, kind) for s, e, ts, kind in found.fetchall()}

        rows, replacing = self.encoder.rows(books, symbols, exchanges, stored)
        if upsert:
            rows, replacing = [], rows + replacing
        if rows:
            with conn.cursor().copy(COPY_SQL) as copy:
                copy.set_types(TYPES)
                for row in rows:
                    copy.write_row(row)
        if replacing:
            conn.cursor().executemany(UPSERT_SQL, replacing)


def drop_book_partition(conn: psycopg.Connection[Any], tick_partition: str) -> str | None:
    """Drop the books partition of the same day as `tick_partition` (ticks_YYYYMMDD), if
    there is one; returns its name then. Call it in the transaction dropping the ticks'."""
    name = "books_" + tick_partition.removeprefix("ticks_")
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone() == (None,):
        return None
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
    return name
