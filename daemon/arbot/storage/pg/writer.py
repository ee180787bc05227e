"""The batch writer into PostgreSQL, with the SQLite Writer's contract (both are
storage.batches.BatchWriter): `add` ticks, order books and the engine's records, `flush()`
cuts a batch and returns the coroutine committing it in one transaction; a failing batch is
retried with capped exponential backoff until it commits, never dropped; while it retries
the caller's await does not return (backpressure). The first connection checks the role's
rights, migrates the schema, creates the partitions ahead, takes this shard's advisory
lock (a second daemon for the shard is refused) and a new generation of its lease; each
batch checks the lease in its transaction and every reconnect re-takes the lock, so a
writer whose shard another daemon took over (the lock lost with a server restart) writes
nothing more: it stands down (storage.batches.Fenced). At start-up a server that cannot be
reached is waited for (until `cancel_wait`), while a login refused or a missing right stops
the start (ConfigError, one line naming it). Once running, those are outages like a server
restart: a password rotated or a right revoked keeps the batch retrying, password_file
re-read at each reconnect, until an operator fixes it.

Ticks and book rows (storage/book_rows.py) go in by binary COPY on a dedicated thread:
psycopg releases the GIL while the server works, so the event loop keeps running. COPY
cannot upsert, so a batch that meets a key already stored (a retry after a commit whose
acknowledgement was lost, or replayed data) is rolled back and written again with INSERT
... ON CONFLICT DO UPDATE (ticks through a staging table): the later quote wins, as with the
SQLite writer's INSERT OR REPLACE, and nothing is ever duplicated. A book row the writer
knows to replace a stored one (a later book of the same instant) goes in that way at once.
Symbol/exchange ids and the day's partition are created in their own short transactions
before the batch (harmless if the batch then fails), so the batch never holds a lock on the
partitioned parent that would stall the other shards' writers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors

from arbot.errors import ArbotError, ConfigError, DatabaseError
from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.records import Resume
from arbot.settings import PostgresSettings, Settings, ShardSettings
from arbot.storage.batches import FIRST_RETRY_DELAY, Batch, BatchWriter, RecordFailed
from arbot.storage.gaps import last_receive_times
from arbot.storage.pg.books_sql import PgBooks
from arbot.storage.pg.connect import connect_error, open_connection, password
from arbot.storage.pg.errors import (
    INSUFFICIENT_PRIVILEGE,
    error_kind,
    is_outage,
    is_transient,
    login_refused,
    one_line,
)
from arbot.storage.pg.partitions import day_of, ensure_ahead, ensure_days
from arbot.storage.pg.records_sql import RecordWriter
from arbot.storage.pg.schema import check_rights, migrate
from arbot.storage.pg.shard import ShardTaken, check_lease, lock_shard, take_lease
from arbot.storage.pg.ticks_sql import Row, ensure_names, last_per_key, tick_rows, write_ticks

T = TypeVar("T")

_TS = itemgetter(6)  # a Tick's timestamp
_BOOK_TS = itemgetter(4)  # a Book's
# The rights the writer uses, table by table (what the role lacks is named at start-up,
# not found by the first batch that needs it). UPDATE where rows are upserted or updated;
# SELECT where it reads, or an upsert or UPDATE names a column.
WRITER_RIGHTS = {
    "arbot_schema": ("SELECT",),
    "symbols": ("SELECT", "INSERT"),
    "exchanges": ("SELECT", "INSERT"),
    "ticks": ("SELECT", "INSERT", "UPDATE"),
    "books": ("SELECT", "INSERT", "UPDATE"),
    "arbitrage_signals": ("SELECT", "INSERT", "UPDATE"),
    "signal_book_trades": ("INSERT",),
    "signal_episodes": ("INSERT",),
    "trades": ("SELECT", "INSERT", "UPDATE"),
    "balances": ("SELECT", "INSERT", "UPDATE"),
    "feed_gaps": ("INSERT",),
    "open_episodes": ("SELECT", "INSERT", "DELETE"),
    "shard_leases": ("SELECT", "INSERT", "UPDATE"),
}
WRITER_FUNCTIONS = ("ensure_tick_partition(double precision)",)
# A batch spanning more days than this (a sparse replay) gets partitions for the days its
# ticks fall on only, not for every day in between.
MAX_DAY_SPAN = 7


class PgWriter(BatchWriter):
    """Owns one PostgreSQL write connection and its thread."""

    def __init__(
        self,
        settings: PostgresSettings,
        metrics: Metrics,
        *,
        shard: ShardSettings | None = None,
        retry_max_seconds: float = 30.0,
    ) -> None:
        super().__init__(
            metrics,
            retry_max_seconds=retry_max_seconds,
            thread="arbot-pg-writer",
            what="PostgreSQL",
        )
        self._settings = settings
        self._records_sql = RecordWriter(shard or ShardSettings())
        self._conn: psycopg.Connection[Any] | None = None
        self._symbols: dict[str, int] = {}
        self._exchanges: dict[str, int] = {}
        self._days: set[int] = set()
        self._book_rows = PgBooks()
        self._started = False  # migrated and first took the shard lock
        self._generation: int | None = None  # of this shard's lease, once taken

    @classmethod
    def open(cls, settings: Settings, metrics: Metrics) -> PgWriter:
        """The daemon's writer for storage.backend = "postgresql" (connects on first use)."""
        return cls(
            settings.postgresql,
            metrics,
            shard=settings.shard,
            retry_max_seconds=settings.storage.retry_max_seconds,
        )

    def resume_state(self) -> Resume:
        """What the last run of this shard left (ids, balances, open episodes). Blocking
        (call it from a thread, before writing): waits, with backoff, for a server that
        cannot be reached; raises ConfigError when only an operator can help."""
        return self._before_writing(self._records_sql.resume_state)

    def last_received(self, exchanges: Mapping[str, Sequence[str]]) -> dict[str, float | None]:
        return self._before_writing(lambda conn: last_receive_times(conn, exchanges))

    def _before_writing(self, read: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`read` on the writer's connection, waiting for the server as resume_state says;
        WaitCancelled once `cancel_wait` is called. One log line per distinct error."""
        delay = FIRST_RETRY_DELAY
        since, logged = time.monotonic(), ""
        try:
            while True:
                self._pause(0)
                try:
                    return self._thread.submit(self._read, read).result()
                except psycopg.Error as exc:
                    if not is_transient(exc):
                        raise self._start_error(exc) from None
                    error = one_line(exc)
                    self._failing = (since, f"{error_kind(exc)}: {error}")
                    if error != logged:
                        self._log.warning("postgresql_unavailable", error=error, retry_in=delay)
                        logged = error
                self._pause(delay)
                delay = min(delay * 2, self._retry_max)
        finally:
            self._failing = None

    def _start_error(self, exc: psycopg.Error) -> ArbotError:
        """Before anything was written, what only an operator can fix stops the start
        (exit 3 for credentials and rights; no restart loop under systemd)."""
        if login_refused(exc):
            return connect_error(exc, self._settings, self._secret())
        if exc.sqlstate == INSUFFICIENT_PRIVILEGE:
            return ConfigError(f"postgresql: {self._role()}: {one_line(exc)}")
        return DatabaseError(f"postgresql: {one_line(exc)}")

    def _secret(self) -> str | None:
        try:
            return password(self._settings)
        except ConfigError:
            return None

    def _role(self) -> str:
        user = psycopg.conninfo.conninfo_to_dict(self._settings.conninfo).get("user")
        return f"role {user}" if user else "the role"

    def _read(self, read: Callable[[psycopg.Connection[Any]], T]) -> T:
        try:
            return read(self._connection())
        except psycopg.Error as exc:
            if is_transient(exc):
                self._disconnect()
            raise

    def _retry_kind(self, exc: Exception) -> str | None:
        if not self._started:  # the first connection: refuse to start, as resume_state
            if isinstance(exc, psycopg.Error) and not is_transient(exc):
                raise self._start_error(exc) from None
        elif isinstance(exc, ConfigError):
            return "auth"  # password_file unreadable at a reconnect: being replaced?
        if not isinstance(exc, psycopg.Error):
            return None
        return error_kind(exc) if is_outage(exc) else None

    def _describe(self, exc: Exception) -> str:
        return one_line(exc, self._secret())

    # --- on the writer thread ---------------------------------------------------------

    def _write(self, batch: Batch) -> None:
        try:
            conn = self._connection()
            self._ensure_partitions(conn, [*map(_TS, batch.ticks), *map(_BOOK_TS, batch.books)])
            self._ensure_book_names(conn, batch.books)
            try:
                self._copy(conn, batch)
            except pgerrors.UniqueViolation:
                rows = last_per_key(self._convert(batch.ticks))
                self._transaction(conn, batch, iter(rows), upsert=True)
        except BaseException as exc:
            self._book_rows.encoder.rollback()
            if isinstance(exc, psycopg.Error) and is_outage(exc):
                # A broken or unknown-state session, a partition dropped by retention since
                # we cached it, a right revoked: start afresh (the new session forgets the
                # days, and logs in with the password as it is now).
                self._disconnect()
            raise
        self._book_rows.encoder.commit()

    def _copy(self, conn: psycopg.Connection[Any], batch: Batch) -> None:
        ticks = batch.ticks
        try:
            self._transaction(conn, batch, self._convert(ticks), upsert=False)
        except KeyError:
            # A name not seen yet (its transaction rolled back): create it, write again.
            ensure_names(conn, self._symbols, "symbols", (t.symbol for t in ticks))
            ensure_names(conn, self._exchanges, "exchanges", (t.exchange for t in ticks))
            self._transaction(conn, batch, self._convert(ticks), upsert=False)

    def _transaction(
        self, conn: psycopg.Connection[Any], batch: Batch, rows: Iterator[Row], *, upsert: bool
    ) -> None:
        with conn.transaction():
            # First, and locked until the commit: this batch proves the shard is ours.
            assert self._generation is not None
            check_lease(conn, self._records_sql.shard, self._generation, lock=True)
            if batch.ticks:
                write_ticks(conn, rows, upsert=upsert)
            if batch.books:
                books = self._book_rows
                books.write(conn, batch.books, self._symbols, self._exchanges, upsert=upsert)
            for index, record in enumerate(batch.records):
                try:
                    self._records_sql.write(conn, record)
                except Exception as exc:
                    if isinstance(exc, psycopg.Error) and is_outage(exc):
                        raise  # the batch waits: a revoked right must not drop records
                    raise RecordFailed(index, exc) from exc

    def _ensure_partitions(self, conn: psycopg.Connection[Any], times: list[float]) -> None:
        """The day partitions the ticks and books fall on (from the first and last time, or
        each one's for a batch spanning more than MAX_DAY_SPAN days)."""
        if not times:
            return
        first, last = day_of(min(times)), day_of(max(times))
        span = range(first, last + 1) if last - first <= MAX_DAY_SPAN else map(day_of, times)
        days = set(span) - self._days
        if days:
            ensure_days(conn, days)
            self._days |= days

    def _convert(self, ticks: list[Tick]) -> Iterator[Row]:
        return tick_rows(ticks, self._symbols, self._exchanges)

    def _ensure_book_names(self, conn: psycopg.Connection[Any], books: list[Book]) -> None:
        if books:
            ensure_names(conn, self._symbols, "symbols", (b.symbol for b in books))
            ensure_names(conn, self._exchanges, "exchanges", (b.exchange for b in books))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        # No statement timeout: a batch waiting for a lock or a slow disk must finish.
        conn = open_connection(self._settings, statement_timeout=False)
        try:
            if not self._started:
                # Before and after migrating: a role that cannot read arbot_schema is told
                # so, not migrate's "permission denied"; one that cannot write is refused
                # before its first batch.
                check_rights(conn, WRITER_RIGHTS, "the writer")
                migrate(conn)
                check_rights(
                    conn, WRITER_RIGHTS, "the writer", functions=WRITER_FUNCTIONS, temporary=True
                )
                ensure_ahead(conn, time.time(), self._settings.partitions_ahead_days)
            shard = self._records_sql.shard
            try:
                lock_shard(conn, shard)
            except ShardTaken as exc:
                if self._generation is None:
                    raise  # a second daemon for this shard: refuse to start
                # Taken over (stand down), or our own dead session still holds it a while.
                check_lease(conn, shard, self._generation)
                raise pgerrors.LockNotAvailable(str(exc)) from None
            if self._generation is None:
                self._generation = take_lease(conn, shard)
            else:  # re-taken after a reconnect: write on only if nobody took over meanwhile
                check_lease(conn, shard, self._generation)
        except BaseException:
            conn.close()
            raise
        self._started = True
        self._days.clear()  # partitions may have been dropped meanwhile (retention)
        self._conn = conn
        return conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
