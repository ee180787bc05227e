"""The books table on SQLite (arbot_004.sql): the writer's rows, retention, and a
backtest's read of a time range."""

from __future__ import annotations

import functools
import heapq
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence

from arbot.models import Book
from arbot.storage.book_range import books_in_time_order, snapshot_begins
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
_OF_KEY = (
    "SELECT ?, ?, ts, kind, levels FROM books "
    "WHERE symbol_id = ? AND exchange_id = ? AND ts >= ? AND ts < ? ORDER BY ts"
)
# CROSS JOINs keep the names the outer loops: one primary-key range search per key.
_COUNT = """SELECT count(*) FROM symbols AS s CROSS JOIN exchanges AS e
CROSS JOIN books AS b ON b.symbol_id = s.id AND b.exchange_id = e.id
WHERE b.ts >= ? AND b.ts < ?"""


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


def count_books(conn: sqlite3.Connection, start: float, end: float) -> int:
    """Stored book changes with start <= ts < end."""
    return int(conn.execute(_COUNT, (start, end)).fetchone()[0])


def books_in_range(conn: sqlite3.Connection, start: float, end: float) -> Iterator[Book]:
    """The books of start <= ts < end in (ts, exchange, symbol) order, each key rebuilt
    from its last snapshot at or before `start` (storage/book_range.py), streamed: one
    cursor per key, merged, as ticks are read (one ORDER BY would sort the range first)."""
    begins = snapshot_begins(conn, start)
    cursors = [
        conn.execute(_OF_KEY, (*key, sid, eid, start if begin is None else begin, end))
        for key, (sid, eid, begin) in begins.items()
    ]
    rows = heapq.merge(*cursors, key=lambda r: (r[2], r[0], r[1]))
    known = {key: b[2] for key, b in begins.items() if b[2] is not None}
    yield from books_in_time_order(rows, known, start)
