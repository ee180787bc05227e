"""What the SQLite and the PostgreSQL writer share (the contract the storage sink uses):
ticks, order books and records are buffered on the event loop; `flush()` cuts a batch and
returns the coroutine that commits it in one transaction on the writer's own thread. A batch
failing for a reason of the environment is rolled back and retried with capped exponential
backoff until it commits, never dropped (one log line when the failure starts or changes
kind, one when it ends); a record failing for a reason no retry can fix is dropped and
logged, the rest of its batch kept. Batches commit in the order they were cut.

A batch's first attempt goes to the writer thread when it is cut, so the thread starts on
the next batch as soon as one commits, without waiting for the event loop to come round
(a hop each way costs ~1-3 ms beside a busy loop, a tenth of a 5000-tick batch's write).
A first attempt that finds an earlier batch not yet committed does nothing (`_Deferred`);
its batch is attempted again in order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from arbot.errors import DatabaseError
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.records import Record, Resume

FIRST_RETRY_DELAY = 0.05


@dataclass(slots=True)
class Batch:
    ticks: list[Tick]
    records: list[Record]
    books: list[Book] = field(default_factory=list)
    seq: int = 0
    """Cut order, from 1; 0 for a batch that was never submitted."""
    seconds: float = 0.0
    """How long its committing attempt took on the writer thread."""


class _Deferred(Exception):
    """A first attempt that ran while an earlier batch was not committed yet."""


class Fenced(DatabaseError):
    """Raised by `_write`: another writer has taken over what this one writes (a shard's
    lease). Nothing more may be written: the writer stands down (see `stood_down`)."""


class WaitCancelled(Exception):
    """A start-up wait for the database ended by `BatchWriter.cancel_wait` (a stop)."""


class RecordFailed(Exception):
    """Raised by `_write` for the record at `index`: retrying cannot make it succeed."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(f"record #{index} failed: {cause!r}")
        self.index = index
        self.cause = cause


class BatchWriter(ABC):
    """Only use it from one event loop."""

    def __init__(
        self, metrics: Metrics, *, retry_max_seconds: float, thread: str, what: str
    ) -> None:
        self._metrics = metrics
        self._retry_max = retry_max_seconds
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=thread)
        # Held for a whole commit including its retries, so batches commit in cut order.
        self._lock = asyncio.Lock()
        self._what = what
        self._ticks: list[Tick] = []
        self._records: list[Record] = []
        self._books: list[Book] = []
        self._closed = False
        self._log = get_logger(component=thread.removeprefix("arbot-"))
        self.committed = 0
        """Ticks committed (a repeated key replaces its row and counts again)."""
        self.books_committed = 0
        """Order books committed (one at the instant of an earlier one replaces it, and counts)."""
        self.attempts = 0
        """Write attempts that ended, committed or failed (the watchdog's sign of life)."""
        self.records_dropped: Counter[str] = Counter()
        """Records that could not be stored, by kind (record type name)."""
        self.ticks_dropped = 0
        """Ticks of batches given after the writer stood down (never written)."""
        self.fenced: Fenced | None = None
        """Why the writer stood down, once it has."""
        self._stood_down = asyncio.Event()
        self._failing: tuple[float, str] | None = None  # (monotonic since, last error)
        self._cancel = threading.Event()
        self._cut = 0  # seq of the last batch submitted
        # seq of the last batch done with: committed (set on the writer thread), dropped or
        # given up (set on the loop).
        self._done = 0

    @abstractmethod
    def resume_state(self) -> Resume:
        """What the last run left (first free ids, paper balances, open episodes)."""

    @abstractmethod
    def last_received(self, exchanges: Mapping[str, Sequence[str]]) -> dict[str, float | None]:
        """Receive time of each exchange's newest stored tick over its symbols, or None (a
        restart records the time since as a feed gap). Blocking: call it before writing."""

    @abstractmethod
    def _write(self, batch: Batch) -> None:
        """On the writer thread: the whole batch in one transaction, or nothing."""

    @abstractmethod
    def _retry_kind(self, exc: Exception) -> str | None:
        """The write_errors kind of a failure retrying can fix, or None to raise it (it may
        also raise an ArbotError for what only an operator can fix)."""

    @abstractmethod
    def _disconnect(self) -> None:
        """On the writer thread, at close: close the connection."""

    def _describe(self, exc: Exception) -> str:
        return str(exc)

    async def stood_down(self) -> Fenced:
        """Returns once the writer has stood down: its owner must stop (the batches given
        meanwhile are counted as dropped, never written)."""
        await self._stood_down.wait()
        assert self.fenced is not None
        return self.fenced

    def cancel_wait(self) -> None:
        """End a start-up wait for the database (resume_state, last_received) with
        WaitCancelled: the daemon was told to stop. Thread-safe."""
        self._cancel.set()

    def _pause(self, seconds: float) -> None:
        """Between start-up attempts: sleep, or raise WaitCancelled once cancelled."""
        if self._cancel.wait(seconds):
            raise WaitCancelled

    def retrying(self) -> tuple[float, str] | None:
        """While a batch fails and is retried, or the start-up waits for the database:
        (seconds since its first failure, the last error); else None."""
        if self._failing is None:
            return None
        since, error = self._failing
        return time.monotonic() - since, error

    @property
    def pending(self) -> int:
        """Ticks, books and records waiting for the next flush."""
        return len(self._ticks) + len(self._books) + len(self._records)

    def add(
        self, ticks: Iterable[Tick], records: Iterable[Record] = (), books: Iterable[Book] = ()
    ) -> None:
        """Ticks, records and books for the next batch; records are written after its ticks
        and books, in order (a retry writes them again after a rollback: they carry explicit
        ids). Books of one exchange and symbol must come in the order they happened."""
        self._ticks.extend(ticks)
        self._records.extend(records)
        self._books.extend(books)

    def flush(self) -> Coroutine[Any, Any, None]:
        """Cut the batch NOW (everything added so far) and return the coroutine that commits
        it; it completes once committed. Await it (or make it a task)."""
        batch = Batch(self._ticks, self._records, self._books)
        self._ticks, self._records, self._books = [], [], []
        return self._commit(batch, self._submit(batch))

    def _submit(self, batch: Batch) -> asyncio.Future[None] | None:
        """Start the batch's first attempt on the writer thread now."""
        if (
            not (batch.ticks or batch.records or batch.books)
            or self._closed
            or self.fenced is not None
        ):
            return None
        self._cut += 1
        batch.seq = self._cut
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._thread, self._attempt, batch, True)

    def _attempt(self, batch: Batch, first: bool) -> None:
        """On the writer thread: write the batch; a first attempt only once every batch cut
        before it is done (one failing is retried from the loop, in order)."""
        if first and (batch.seq != self._done + 1 or self.fenced is not None):
            raise _Deferred
        started = time.perf_counter()
        self._write(batch)
        batch.seconds = time.perf_counter() - started
        self._done = max(self._done, batch.seq)

    async def close(self) -> None:
        """Commit what is pending, then close the connection."""
        if self._closed:
            return
        await self.flush()
        async with self._lock:
            self._closed = True
            await asyncio.get_running_loop().run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=True)

    async def _commit(self, batch: Batch, first: asyncio.Future[None] | None) -> None:
        if not batch.ticks and not batch.records and not batch.books:
            return
        try:
            await self._commit_in_order(batch, first)
        finally:
            # Dropped or given up: the batches cut after it must not wait for it.
            self._done = max(self._done, batch.seq)

    async def _commit_in_order(self, batch: Batch, first: asyncio.Future[None] | None) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._what} writer is closed; the batch cannot be committed")
            if self.fenced is not None:
                self._drop(batch)
                return
            failures = 0
            delay = FIRST_RETRY_DELAY
            failing_since = time.monotonic()
            while True:
                attempt, first = first, None
                try:
                    if attempt is None:
                        attempt = loop.run_in_executor(self._thread, self._attempt, batch, False)
                    await attempt
                    self.attempts += 1
                    break
                except _Deferred:
                    continue  # not an attempt: now it is this batch's turn
                except RecordFailed as exc:
                    self.attempts += 1
                    # A bug in one record must not stall ingestion: drop it, keep the rest.
                    dropped = type(batch.records.pop(exc.index)).__name__
                    self.records_dropped[dropped] += 1
                    self._metrics.write_errors.labels("other").inc()
                    self._metrics.records_dropped.labels(dropped).inc()
                    self._log.error("write_record_dropped", record=dropped, error=repr(exc.cause))
                except Fenced as exc:
                    self.attempts += 1
                    self._stand_down(exc, batch)
                    return
                except Exception as exc:
                    self.attempts += 1
                    kind = self._retry_kind(exc)
                    if kind is None:
                        raise
                    failures += 1
                    changed = self._failing is None or self._failing[1].partition(":")[0] != kind
                    self._failing = (failing_since, f"{kind}: {self._describe(exc)}")
                    self._metrics.write_errors.labels(kind).inc()
                    self._metrics.writer_retrying.set(1)
                    if changed:  # /healthz and write_errors follow every attempt
                        self._log.warning(
                            "batch_write_failed",
                            kind=kind,
                            error=self._describe(exc),
                            rows=len(batch.ticks),
                            books=len(batch.books),
                            attempt=failures,
                            retry_in=round(delay, 3),
                        )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max)
        if failures:
            self._failing = None
            self._metrics.writer_retrying.set(0)
            self._log.info(
                "batch_write_recovered",
                attempts=failures + 1,
                seconds=round(time.monotonic() - failing_since, 3),
            )
        self.committed += len(batch.ticks)
        self._metrics.ticks_committed.inc(len(batch.ticks))
        self.books_committed += len(batch.books)
        self._metrics.books_committed.inc(len(batch.books))
        self._metrics.batch_rows.observe(len(batch.ticks))
        self._metrics.flush_seconds.observe(batch.seconds)

    def _stand_down(self, fenced: Fenced, batch: Batch) -> None:
        self.fenced = fenced
        self._failing = None
        self._metrics.writer_retrying.set(0)
        self._drop(batch)
        self._log.error("writer_fenced", error=str(fenced))
        self._stood_down.set()

    def _drop(self, batch: Batch) -> None:
        """Count a batch a fenced writer must not write."""
        self.ticks_dropped += len(batch.ticks)
        self._metrics.ticks_dropped.labels("fenced").inc(len(batch.ticks))
        self._metrics.books_dropped.labels("fenced").inc(len(batch.books))
        for record in batch.records:
            kind = type(record).__name__
            self.records_dropped[kind] += 1
            self._metrics.records_dropped.labels(kind).inc()
