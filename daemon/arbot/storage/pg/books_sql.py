"""The books table on PostgreSQL (pg_003.sql): the writer's rows by binary COPY, the day
partitions retention drops with the ticks', and a backtest's read of a time range."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from arbot.models import Book
from arbot.storage.book_range import books_in_time_order, snapshot_begins
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


# Ties ordered by exchange, then symbol, bytewise (COLLATE "C"), as SQLite's reader merges
# them; the time filter prunes to the range's day partitions (and the days of the keys'
# last snapshots before it).
_IN_TIME_ORDER = """SELECT e.name, s.name, b.ts, b.kind, b.levels
FROM books AS b JOIN symbols AS s ON s.id = b.symbol_id
JOIN exchanges AS e ON e.id = b.exchange_id
WHERE b.ts >= %s AND b.ts < %s
ORDER BY b.ts, e.name COLLATE "C", s.name COLLATE "C"
"""
FETCH_ROWS = 10_000


def count_books(conn: psycopg.Connection[Any], start: float, end: float) -> int:
    """Stored book changes with start <= ts < end."""
    row = conn.execute("SELECT count(*) FROM books WHERE ts >= %s AND ts < %s", (start, end))
    return int(row.fetchall()[0][0])


def books_in_range(conn: psycopg.Connection[Any], start: float, end: float) -> Iterator[Book]:
    """The books of start <= ts < end in (ts, exchange, symbol) order, each key rebuilt
    from its last snapshot at or before `start` (storage/book_range.py), streamed through a
    server-side cursor (in a transaction of its own)."""
    begins = snapshot_begins(conn, start)
    known = {key: b[2] for key, b in begins.items() if b[2] is not None}
    with conn.transaction(), conn.cursor("backtest_books") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(_IN_TIME_ORDER, (min([start, *known.values()]), end))
        yield from books_in_time_order(cur, known, start)
