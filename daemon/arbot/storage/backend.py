"""The storage backend, chosen once from storage.backend: `backend_of(settings)`.

Everything that differs between SQLite (four files in the data dir) and PostgreSQL (one
server database; the data dir keeps config.db, the lock file and backups) is a method here:
the writer of ticks, books and records, connections for commands, the analysis queries and
stored order books, the database commands (init, prune, rollup, backup, restore, stats,
explain, maintain), the tick and book sources of a backtest and the daemon's daily jobs. The rest of
ArBot asks the backend and never tests which one it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal

from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.rollup import DailyRollup
from arbot.settings import Settings
from arbot.storage.batches import BatchWriter
from arbot.storage.books import read_book
from arbot.storage.jobs import Job, JobRuns
from arbot.storage.portable import Conn
from arbot.storage.queries import Queries

Db = Literal["arbot", "backtest"]


@dataclass(frozen=True, slots=True)
class Report:
    """What a database command prints: `data` as JSON, `human` (or `data`) as a list of
    `key: value` lines."""

    data: dict[str, Any]
    human: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TickRange:
    """The stored ticks of a time range, for a backtest: the exchanges and how many ticks
    it holds, where they are (for messages), and a reader of them in storage order."""

    exchanges: list[str]
    count: int
    where: str
    ticks: Callable[[], Iterable[Tick]] = field(repr=False)


@dataclass(frozen=True, slots=True)
class BookRange:
    """The stored order books of a time range, for a backtest: how many changes it holds,
    and a reader of the books in (time, exchange, symbol) order, each key rebuilt from its
    last snapshot at or before the range's start (storage/book_range.py)."""

    count: int
    books: Callable[[], Iterable[Book]] = field(repr=False)


class Backend(ABC):
    name: ClassVar[str]
    # Where a second copy of the same data would go, for "already stored" messages.
    elsewhere: ClassVar[str]
    # The data dir's database files this backend uses (their sizes are gauged).
    local_databases: ClassVar[tuple[str, ...]]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- the daemon and replays ------------------------------------------------------
    @abstractmethod
    def open_writer(self, metrics: Metrics) -> BatchWriter:
        """The writer of ticks and records, its database created or migrated."""

    @abstractmethod
    def hold_for_writing(self, held: ExitStack) -> None:
        """Whatever a writer other than the daemon (a replay) must hold while it writes."""

    @abstractmethod
    def daily_jobs(self) -> list[Job]:
        """The daemon's daily jobs on this backend."""

    @abstractmethod
    def job_runs(self) -> JobRuns:
        """Where the daily jobs' completions are kept."""

    def server_bytes(self) -> int | None:
        """The size of a server database (None: no server, the files are gauged)."""
        return None

    # --- commands ----------------------------------------------------------------------
    @abstractmethod
    def open(self, db: Db) -> AbstractContextManager[tuple[Conn, str]]:
        """A connection to the database holding `db`'s tables, created or migrated as the
        daemon's writer would, and its name for messages."""

    @abstractmethod
    def reader(self) -> AbstractContextManager[Queries]:
        """The analysis queries over the stored data (which must exist), read-only."""

    def book_at(self, exchange: str, symbol: str, at: float) -> Book | None:
        """The stored order book of (exchange, symbol) as it was at `at` (after its last
        stored change at or before `at`), rebuilt from the reader; None if there is none."""
        with self.reader() as q:
            return read_book(q.conn, exchange, symbol, at)

    @abstractmethod
    def init(self, now: float) -> Report: ...

    @abstractmethod
    def prune(self, now: float) -> Report: ...

    @abstractmethod
    def rollup(self, day: date) -> DailyRollup: ...

    @abstractmethod
    def stats(self, now: float) -> list[dict[str, Any]] | dict[str, Any]:
        """Per-file figures (SQLite, a list) or the server's (PostgreSQL, a mapping)."""

    @abstractmethod
    def explain(self, sql: str, db: str) -> tuple[Any, str]:
        """The plan of one read-only statement as JSON data and as text."""

    @abstractmethod
    def maintain(
        self, now: float, *, reindex: bool, vacuum: bool, vacuum_threshold: float
    ) -> list[dict[str, Any]]:
        """Steps done, each {database, step, seconds, result}."""

    @abstractmethod
    def backup(
        self, dest: Path, now: float, *, compress: bool, databases: Sequence[str]
    ) -> Any: ...

    @abstractmethod
    def restore(self, file: Path, db: str, now: float) -> Any: ...

    @abstractmethod
    def tick_range(self, start: float, end: float) -> TickRange: ...

    @abstractmethod
    def book_range(self, start: float, end: float) -> BookRange: ...


def backend_of(settings: Settings) -> Backend:
    """The configured backend (psycopg is imported only when it is PostgreSQL)."""
    if settings.storage.backend == "postgresql":
        from arbot.storage.pg.backend import PgBackend

        return PgBackend(settings)
    from arbot.storage.sqlite.backend import SqliteBackend

    return SqliteBackend(settings)
