"""Between the engine and a database: a bounded backlog and the task that commits it.

The engine hands every output to `put`, which never waits, so detection keeps pace with the
feeds whatever the database does. `run` cuts batches (storage.batch_size ticks and as many
order books, or storage.linger_ms after the first waiting item) and commits them in order
through a BatchWriter (the SQLite Writer, or another backend's), the next one cut while one
commits; a batch that fails is retried by the writer until it commits. While commits fail
the backlog grows, up to storage.backlog_max_ticks ticks and books together; past it, by
storage.backlog_overflow:
  conflate  only the latest tick per exchange+symbol waits; every tick replaced is counted
            in arbot_ticks_dropped_total{reason="storage_backlog"}. Books likewise: all the
            waiting ones are conflated to the latest per exchange+symbol, and so are those
            put until that latest one is taken into a batch; each replaced is counted in
            arbot_books_dropped_total{reason="storage_backlog"} and the book kept is marked
            `resync`, so it is stored as a snapshot. Once there is room again, a feed_gaps
            row per exchange covers the span of what was dropped;
  block     `room()` does not return until there is room: the caller (and so the feeds)
            waits, nothing is dropped, detection pauses.
Records (signals, episodes, trades, gaps) are never dropped: a few per second at most.
Accounting: every tick and book put is committed, dropped (counted), or still waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from arbot.metrics import Metrics
from arbot.models import Book, FeedGap, Tick
from arbot.records import Output, Record
from arbot.settings import StorageSettings
from arbot.storage.batches import BatchWriter

DROP_REASON = "storage_backlog"
T = TypeVar("T")
Key = tuple[str, str]  # (exchange, symbol)


@dataclass(slots=True)
class _Dropped:
    first: float
    last: float
    ticks: int = 0
    books: int = 0


class StorageSink:
    """The daemon's Sink: `run` is its committing task."""

    def __init__(self, writer: BatchWriter, settings: StorageSettings, metrics: Metrics) -> None:
        self.writer = writer
        self._metrics = metrics
        self._batch_size = settings.batch_size
        self._linger = settings.linger_ms / 1000
        self._bound = settings.backlog_max_ticks
        self._block = settings.backlog_overflow == "block"
        # The engine's tick lists as they came: cutting a batch pops whole lists, so it costs
        # the batch's size, not the backlog's (a list's front deletion moves the whole list).
        self._chunks: deque[list[Tick]] = deque()
        self._count = 0  # ticks in _chunks
        self._records: list[Record] = []
        self._latest: dict[Key, Tick] = {}  # overflow: latest tick per key
        # Books as the engine's lists, like ticks; past the bound, all of them are conflated
        # here, so a key's books stay in order (a book taken later must be a later one).
        self._book_chunks: deque[list[Book]] = deque()
        self._book_count = 0  # books in _book_chunks
        self._latest_books: dict[Key, Book] = {}
        self._dropped: dict[str, _Dropped] = {}
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self._stopped = asyncio.Event()
        self.dropped = 0
        """Ticks dropped (past the bound, conflated)."""
        self.books_dropped = 0
        """Books dropped (past the bound, conflated)."""

    @property
    def backlog(self) -> int:
        """Ticks and books waiting to be committed."""
        return self._count + len(self._latest) + self._book_count + len(self._latest_books)

    def put(self, out: Output) -> None:
        """Take the engine's output; never waits."""
        ticks = out.ticks
        if ticks:
            room = self._bound - self._count - self._book_count
            if room < len(ticks) and not self._block:
                self._overflow(ticks[max(room, 0) :])
                ticks = ticks[: max(room, 0)]
            if ticks:
                self._chunks.append(ticks)
                self._count += len(ticks)
        books = out.books
        if books:
            waiting = self._count + self._book_count + len(books)
            if self._latest_books or (waiting > self._bound and not self._block):
                self._conflate_books(books)
            else:
                self._book_chunks.append(books)
                self._book_count += len(books)
        if out.records:
            self._records.extend(out.records)
        if self._count + self._book_count >= self._bound:
            self._room.clear()
        if self._count or self._book_count or self._records or self._latest_books:
            self._wakeup.set()

    async def room(self) -> None:
        """Returns at once unless backlog_overflow = "block" and the backlog is full."""
        if self._block and not self._room.is_set():
            await self._room.wait()

    async def run(self) -> None:
        """Commit batches until `close` and the backlog is empty."""
        try:
            await self._commit_until_closed()
        finally:
            self._stopped.set()

    async def _commit_until_closed(self) -> None:
        # Commits under way, oldest first: the next batch is cut while one commits, so the
        # writer starts on it as soon as that one is done (storage/batches.py); at most two.
        committing: deque[asyncio.Task[None]] = deque()
        try:
            while True:
                if not self.backlog and not self._records:
                    if committing:
                        await committing.popleft()
                        continue
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._linger_for_batch()
                committing.append(asyncio.create_task(self._committed(self._cut_batch())))
                if len(committing) > 1:
                    await committing.popleft()
        finally:
            for task in committing:
                task.cancel()

    async def _linger_for_batch(self) -> None:
        """Until a batch is full, the linger time has passed, or the sink closes."""
        loop = asyncio.get_running_loop()
        first_at = loop.time()
        while max(self._count, self._book_count) < self._batch_size and not self._closing:
            left = first_at + self._linger - loop.time()
            if left <= 0:
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout(left):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    async def close(self) -> None:
        """No more input: return once `run` has committed everything put (or failed)."""
        self._closing = True
        self._wakeup.set()
        await self._stopped.wait()

    def _cut_batch(self) -> Coroutine[Any, Any, None]:
        """Hand the next batch to the writer; the coroutine returned commits it."""
        ticks = _cut(self._chunks, self._batch_size)
        self._count -= len(ticks)
        books = _cut(self._book_chunks, self._batch_size)
        self._book_count -= len(books)
        records, self._records = self._records, []
        waiting = self._count + self._book_count
        conflated = False
        # More keys than the bound must not keep the latest ticks out for good.
        if self._latest and (not waiting or waiting + len(self._latest) < self._bound):
            ticks.extend(self._latest.values())
            self._latest.clear()
            conflated = True
        # While books are conflated none wait in _book_chunks: these are the newest.
        if self._latest_books and (not waiting or waiting + len(self._latest_books) < self._bound):
            books.extend(self._latest_books.values())
            self._latest_books.clear()
            conflated = True
        if conflated:
            records.extend(self._gaps())
        self.writer.add(ticks, records, books)
        self._metrics.storage_backlog.set(self.backlog)
        return self.writer.flush()

    async def _committed(self, commit: Coroutine[Any, Any, None]) -> None:
        await commit
        if self._count + self._book_count < self._bound:
            self._room.set()
        self._metrics.storage_backlog.set(self.backlog)

    def _overflow(self, ticks: list[Tick]) -> None:
        latest = self._latest
        dropped = 0
        for tick in ticks:
            key = (tick[0], tick[1])
            old = latest.get(key)
            latest[key] = tick
            if old is None:
                continue
            dropped += 1
            self._span(old[0], old[6]).ticks += 1
        if dropped:
            self.dropped += dropped
            self._metrics.ticks_dropped.labels(DROP_REASON).inc(dropped)

    def _conflate_books(self, books: list[Book]) -> None:
        """Keep only the latest book per key of those waiting and `books`; the one kept in
        place of others is marked resync (it does not follow from the stored ones)."""
        if not self._latest_books:
            waiting = _cut(self._book_chunks, self._book_count)
            self._book_count = 0
            books = waiting + books
        latest = self._latest_books
        dropped = 0
        for book in books:
            key = (book[0], book[1])
            old = latest.get(key)
            if old is None:
                latest[key] = book
                continue
            dropped += 1
            self._span(old[0], old[4]).books += 1
            latest[key] = book._replace(resync=True)
        if dropped:
            self.books_dropped += dropped
            self._metrics.books_dropped.labels(DROP_REASON).inc(dropped)

    def _span(self, exchange: str, at: float) -> _Dropped:
        span = self._dropped.get(exchange)
        if span is None:
            span = self._dropped[exchange] = _Dropped(at, at)
        else:
            span.first = min(span.first, at)
            span.last = max(span.last, at)
        return span

    def _gaps(self) -> list[Record]:
        gaps: list[Record] = []
        for exchange, span in sorted(self._dropped.items()):
            what = [f"{span.ticks} ticks"] if span.ticks else []
            what += [f"{span.books} books"] if span.books else []
            gaps.append(
                FeedGap(
                    exchange,
                    span.first,
                    span.last,
                    f"{DROP_REASON}: {' and '.join(what)} not stored while the database "
                    "could not be written",
                )
            )
        self._dropped.clear()
        return gaps


def _cut(chunks: deque[list[T]], n: int) -> list[T]:
    """Up to n items from the front of a backlog of lists."""
    batch: list[T] = []
    while chunks and len(batch) < n:
        chunk = chunks[0]
        need = n - len(batch)
        if len(chunk) <= need:
            batch.extend(chunk)
            chunks.popleft()
        else:
            batch.extend(chunk[:need])
            chunks[0] = chunk[need:]
    return batch
