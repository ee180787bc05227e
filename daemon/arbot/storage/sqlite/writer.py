"""The one writer connection to arbot.db.

Ticks, order books and the engine's records are buffered on the event loop and committed as
one transaction per batch on a dedicated thread: one thread hop per batch, never per row (a
hop costs ~150-200 µs, an insert ~3 µs a row). A crash loses at most the batch in flight.
Ticks and book rows (storage/book_rows.py) go in as multi-row INSERTs rather than
`executemany`: sqlite3 runs each statement's whole insert without the GIL, so the event
loop keeps working on the other core, whereas `executemany` takes the GIL back after every
row and, beside a busy event loop, waits for it each time (up to the switch interval).
For the same reason a batch takes as few statements as it can: a full batch of ticks alone
(storage.batch_size of them, what every batch is under load) is one INSERT run without
BEGIN/COMMIT, SQLite's own transaction for one statement; other batches are BEGIN, INSERTs
of power-of-two row counts, COMMIT (measured in `make bench` ingest).
A batch that fails with a database error (locked, disk full, I/O, read-only, ...) is rolled
back and retried with capped exponential backoff until it commits; it is never dropped.
While it retries the caller's `await` does not return; the daemon's sink (sink.py) keeps
the engine running meanwhile and bounds what waits.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar, cast

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.records import Resume
from arbot.settings import StorageSettings
from arbot.storage.batches import Batch, BatchWriter, RecordFailed
from arbot.storage.connection import Pragmas
from arbot.storage.gaps import last_receive_times
from arbot.storage.schema import open_database
from arbot.storage.sqlite.books_sql import BOOK_PARAMS, SqliteBooks, insert_books_sql
from arbot.storage.sqlite.ids import NameIds
from arbot.storage.sqlite.records_sql import resume_state, write_record

# Fewer, longer GIL-free statements. Statements have power-of-two row counts (a batch of
# 3000 is 2048 + 512 + 256 + 128 + 32 + 16 + 8), or a full batch's: a prepared 4096-row
# statement holds ~5 MB, and sqlite3 caches up to 128 statements, so arbitrary counts could
# pin hundreds of MB; this way at most 14 distinct ones exist. SQLite's default limit of
# 32766 variables (8 a row) allows 2048 rows; Python's bundled SQLite allows more.
MAX_ROWS_PER_STATEMENT = 4096
# A full batch up to this size is one statement (~20 MB prepared, cached once).
MAX_BATCH_ROWS_PER_STATEMENT = 16_384
# After each statement the writer thread needs the GIL back; beside a busy event loop it
# waits up to the interpreter's switch interval for it (5 ms by default). At 1 ms the
# writer idles less and the loop pays one forced switch a millisecond.
SWITCH_INTERVAL = 0.001

TICK_COLUMNS = "symbol_id, ts, exchange_id, bid, ask, bid_size, ask_size, recv_delta_ms"
TICK_PARAMS = 8
T = TypeVar("T")


def encoded_sql(value: str) -> str:
    """SQL storing `value` as an INTEGER count of 1e-8 when that is exact, else as is
    (arbot_002.sql; tick_values decodes). SQLite's round() takes a tie (x·1e8 ending in
    exactly .5, e.g. 42660616.7) away from zero, where the exact count may be the one below:
    that one is tried second (CASE is lazy, so only then)."""
    units = f"CAST(round({value} * 1e8) AS INTEGER)"
    return (
        f"iif({units} / 1e8 = {value}, {units}, "
        f"iif(({units} - 1) / 1e8 = {value}, {units} - 1, {value}))"
    )


@functools.lru_cache(maxsize=16)
def insert_ticks_sql(rows: int) -> str:
    """Insert `rows` ticks, passed as their flattened fields with the exchange and symbol
    names replaced by their ids. The receive delay and the value encoding are computed by
    SQLite, without the GIL."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    # Fields: 1 exchange id, 2 symbol id, 3 bid, 4 ask, 5 bid_size, 6 ask_size,
    # 7 timestamp, 8 received.
    prices = ", ".join(encoded_sql(f"column{i}") for i in (3, 4, 5, 6))
    return (
        f"INSERT OR REPLACE INTO ticks ({TICK_COLUMNS}) "
        f"SELECT column2, column7, column1, {prices}, "
        f"CAST(round((column8 - column7) * 1000) AS INTEGER) FROM (VALUES {values})"
    )


# Primary SQLite result codes (extended code & 0xff) -> write_errors{kind}.
_KIND_BY_CODE = {5: "locked", 6: "locked", 13: "disk_full", 10: "io"}
_KIND_BY_TEXT = (("locked", "locked"), ("busy", "locked"), ("full", "disk_full"), ("i/o", "io"))


def error_kind(exc: BaseException) -> str:
    """The write_errors label of a failure: locked | disk_full | io | other."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _KIND_BY_CODE.get(code & 0xFF, "other")
    text = str(exc).lower()
    return next((kind for word, kind in _KIND_BY_TEXT if word in text), "other")


def is_transient(exc: BaseException) -> bool:
    """Errors of the environment (locks, disk, I/O, permissions) go away; retry them.
    Constraint or programming errors raised by an op would fail the same way forever."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


class Writer(BatchWriter):
    """Owns the arbot.db write connection and its thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        metrics: Metrics,
        *,
        retry_max_seconds: float = 30.0,
        batch_size: int = 0,
    ) -> None:
        """`batch_size`: the ticks of a full batch (storage.batch_size), written as one
        statement when the variable limit allows."""
        super().__init__(
            metrics, retry_max_seconds=retry_max_seconds, thread="arbot-writer", what="arbot.db"
        )
        self._conn = conn
        self._symbols = NameIds(conn, "symbols")
        self._exchanges = NameIds(conn, "exchanges")
        self._book_rows = SqliteBooks(self._symbols, self._exchanges)
        variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._max_rows = _max_rows(variables, TICK_PARAMS)
        self._max_book_rows = _max_rows(variables, BOOK_PARAMS)
        fits = batch_size * TICK_PARAMS <= variables
        self._full = batch_size if fits and batch_size <= MAX_BATCH_ROWS_PER_STATEMENT else 0

    @classmethod
    def open(cls, settings: StorageSettings, metrics: Metrics) -> Writer:
        """Open (creating or migrating) data_dir/arbot.db with the configured pragmas."""
        conn = open_database(settings.data_dir, "arbot", Pragmas.of(settings))
        return cls(
            conn,
            metrics,
            retry_max_seconds=settings.retry_max_seconds,
            batch_size=settings.batch_size,
        )

    def resume_state(self) -> Resume:
        """What the last run left (ids, balances, open episodes); call before writing."""
        return resume_state(self._conn)

    def last_received(self, exchanges: Mapping[str, Sequence[str]]) -> dict[str, float | None]:
        return last_receive_times(self._conn, exchanges)

    def _retry_kind(self, exc: Exception) -> str | None:
        # Every SQLite error is retried: locks, disk and I/O go away; one record's own
        # failure was already turned into RecordFailed by _write.
        return error_kind(exc) if isinstance(exc, sqlite3.Error) else None

    def _disconnect(self) -> None:
        self._conn.close()  # checkpoints the WAL

    def _write(self, batch: Batch) -> None:
        conn = self._conn
        ticks = batch.ticks
        if len(ticks) == self._full and not batch.books and not batch.records:
            params = self._known_params(ticks)
            if params is not None:
                # In autocommit mode one statement is one transaction: two GIL round trips
                # (BEGIN and COMMIT) fewer, the same durability.
                conn.execute(insert_ticks_sql(len(ticks)), params)
                return
        try:
            conn.execute("BEGIN IMMEDIATE")
            if ticks:
                self._insert(conn, ticks)
            if batch.books:
                rows = self._book_rows.rows(conn, batch.books)
                for chunk in _chunks(rows, self._max_book_rows, self._max_book_rows):
                    conn.execute(insert_books_sql(len(chunk)), list(itertools.chain(*chunk)))
            for index, record in enumerate(batch.records):
                try:
                    write_record(conn, record)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    raise RecordFailed(index, exc) from exc
            conn.execute("COMMIT")
        except BaseException:
            self._symbols.rollback()
            self._exchanges.rollback()
            self._book_rows.encoder.rollback()
            if conn.in_transaction:
                # Fails only if SQLite already rolled back by itself (e.g. after an I/O error).
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        self._symbols.commit()
        self._exchanges.commit()
        self._book_rows.encoder.commit()

    def _insert(self, conn: sqlite3.Connection, ticks: list[Tick]) -> None:
        for chunk in _chunks(ticks, self._full or self._max_rows, self._max_rows):
            params = self._known_params(chunk)
            if params is None:
                # First sighting of a symbol or exchange: add it in this transaction.
                for t in chunk:
                    self._exchanges.get_or_insert(conn, t.exchange)
                    self._symbols.get_or_insert(conn, t.symbol)
                params = self._known_params(chunk)
                assert params is not None
            conn.execute(insert_ticks_sql(len(chunk)), params)

    def _known_params(self, chunk: list[Tick]) -> list[object] | None:
        """The chunk's fields, flat, names replaced by ids (a lookup per row in SQLite
        costs more than both dict lookups here, and SQLite's time is the writer's limit);
        None if a name has no id yet."""
        params: list[object] = list(itertools.chain.from_iterable(chunk))
        exchanges, symbols = self._exchanges.ids, self._symbols.ids
        try:
            params[0::TICK_PARAMS] = map(exchanges.__getitem__, _names(params[0::TICK_PARAMS]))
            params[1::TICK_PARAMS] = map(symbols.__getitem__, _names(params[1::TICK_PARAMS]))
        except KeyError:
            return None
        return params


def _max_rows(variables: int, params: int) -> int:
    """The largest power of two of rows a statement may take (see MAX_ROWS_PER_STATEMENT)."""
    fits = max(1, min(MAX_ROWS_PER_STATEMENT, variables // params))
    return 1 << (fits.bit_length() - 1)


def _chunks(rows: list[T], full: int, max_rows: int) -> Iterator[list[T]]:
    """`rows` in slices of `full` rows, then of power-of-two sizes up to `max_rows`,
    largest first."""
    start = 0
    while len(rows) - start >= full:
        yield rows[start : start + full]
        start += full
    while start < len(rows):
        size = min(max_rows, 1 << ((len(rows) - start).bit_length() - 1))
        yield rows[start : start + size]
        start += size


def _names(fields: list[object]) -> list[str]:
    return cast(list[str], fields)  # Tick fields 0 and 1 are names
