"""The books table on SQLite (arbot_004.sql): the writer's rows and retention."""

from __future__ import annotations

import functools
import math
import sqlite3
import time
from collections.abc import Callable, Sequence

from arbot.models import Book
from arbot.storage.book_rows import COLUMNS, BookRows, IdKey, Row
from arbot.storage.sqlite.ids import NameIds

BOOK_PARAMS = 6
_LAST_ROW = (
    "SELECT ts, kind FROM books WHERE symbol_id = ? AND exchange_id = ? ORDER BY ts DESC LIMIT 1"
)
# The next key after (?, ?) in primary-key order: a seek, not a scan of the table.
_NEXT_KEY = (
    "SELECT symbol_id, exchange_id FROM books WHERE (symbol_id, exchange_id) > (?, ?) "
    "ORDER BY symbol_id, exchange_id LIMIT 1"
)
_LAST_SNAPSHOT = (
    "SELECT ts FROM books WHERE symbol_id = ? AND exchange_id = ? AND ts <= ? AND kind > 0 "
    "ORDER BY ts DESC LIMIT 1"
)
_NEWER = "SELECT 1 FROM books WHERE symbol_id = ? AND exchange_id = ? AND ts > ? LIMIT 1"
_CHUNK_END = (
    "SELECT ts FROM books WHERE symbol_id = ? AND exchange_id = ? AND ts < ? "
    "ORDER BY ts LIMIT 1 OFFSET ?"
)
_DELETE_BEFORE = "DELETE FROM books WHERE symbol_id = ? AND exchange_id = ? AND ts < ?"
_DELETE_TO = "DELETE FROM books WHERE symbol_id = ? AND exchange_id = ? AND ts <= ?"


@functools.lru_cache(maxsize=16)
def insert_books_sql(rows: int) -> str:
    """Insert (or replace: a later book of the same instant) `rows` book rows."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT OR REPLACE INTO books ({COLUMNS}) VALUES {values}"


class SqliteBooks:
    """The writer's book rows: names given ids in the caller's transaction, then encoded."""

    def __init__(self, symbols: NameIds, exchanges: NameIds) -> None:
        self.encoder = BookRows()
        self._symbols = symbols
        self._exchanges = exchanges

    def rows(self, conn: sqlite3.Connection, books: Sequence[Book]) -> list[Row]:
        """On the writer thread, inside its transaction."""
        for name in {b[1] for b in books} - self._symbols.ids.keys():
            self._symbols.get_or_insert(conn, name)
        for name in {b[0] for b in books} - self._exchanges.ids.keys():
            self._exchanges.get_or_insert(conn, name)

        def stored(keys: list[IdKey]) -> dict[IdKey, tuple[float, int]]:
            found = {key: conn.execute(_LAST_ROW, key).fetchone() for key in keys}
            return {key: (row[0], row[1]) for key, row in found.items() if row is not None}

        encoded = self.encoder.rows(books, self._symbols.ids, self._exchanges.ids, stored)
        return encoded.rows + encoded.replacing  # INSERT OR REPLACE takes both


def delete_books_before(
    conn: sqlite3.Connection,
    cutoff: float,
    chunk_rows: int,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Delete, per key, the rows before its last snapshot at or before `cutoff` (so what
    remains still rebuilds), or all of them if none is newer than `cutoff`, about
    `chunk_rows` per transaction, pausing between chunks as long as each took (as
    retention's tick deletes do, for the writer's sake)."""
    deleted = 0
    key = (-1, -1)
    while (found := conn.execute(_NEXT_KEY, key).fetchone()) is not None:
        key = (found[0], found[1])
        if conn.execute(_NEWER, (*key, cutoff)).fetchone() is None:
            before = math.inf
        elif (snapshot := conn.execute(_LAST_SNAPSHOT, (*key, cutoff)).fetchone()) is not None:
            before = snapshot[0]
        else:
            continue
        while True:
            end = conn.execute(_CHUNK_END, (*key, before, chunk_rows - 1)).fetchone()
            started = time.monotonic()
            if end is None:
                n = conn.execute(_DELETE_BEFORE, (*key, before)).rowcount
            else:
                n = conn.execute(_DELETE_TO, (*key, end[0])).rowcount
            deleted += n
            if n:
                pause(max(0.005, time.monotonic() - started))
            if end is None:
                break
    return deleted
