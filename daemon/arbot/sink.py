"""Between the engine and a database: a bounded backlog and the task that commits it.

The engine hands every output to `put`, which never waits, so detection keeps pace with the
feeds whatever the database does. `run` cuts batches (storage.batch_size ticks, or
storage.linger_ms after the first waiting item) and commits them one at a time through a
BatchWriter (the SQLite Writer, or another backend's); a batch that fails is retried by
the writer until it commits. While commits fail the backlog grows, up to
storage.backlog_max_ticks; past it, by storage.backlog_overflow:
  conflate  only the latest tick per exchange+symbol waits; every tick replaced is counted
            in arbot_ticks_dropped_total{reason="storage_backlog"} and, once there is room
            again, a feed_gaps row per exchange covers the span of what was dropped;
  block     `room()` does not return until there is room: the caller (and so the feeds)
            waits, nothing is dropped, detection pauses.
Records (signals, episodes, trades, gaps) are never dropped: a few per second at most.
Accounting: every tick put is committed, dropped (counted), or still waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from arbot.metrics import Metrics
from arbot.models import FeedGap, Tick
from arbot.records import Output, Record
from arbot.settings import StorageSettings
from arbot.storage.batches import BatchWriter

DROP_REASON = "storage_backlog"


@dataclass(slots=True)
class _Dropped:
    first: float
    last: float
    count: int


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
        self._latest: dict[tuple[str, str], Tick] = {}  # overflow: latest tick per key
        self._dropped: dict[str, _Dropped] = {}
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self._stopped = asyncio.Event()
        self.dropped = 0

    @property
    def backlog(self) -> int:
        """Ticks waiting to be committed."""
        return self._count + len(self._latest)

    def put(self, out: Output) -> None:
        """Take the engine's output; never waits."""
        ticks = out.ticks
        if ticks:
            room = self._bound - self._count
            if room < len(ticks) and not self._block:
                self._overflow(ticks[max(room, 0) :])
                ticks = ticks[: max(room, 0)]
            if ticks:
                self._chunks.append(ticks)
                self._count += len(ticks)
        if out.records:
            self._records.extend(out.records)
        if self._count >= self._bound:
            self._room.clear()
        if self._count or self._records:
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
        loop = asyncio.get_running_loop()
        while True:
            if not (self._count or self._records or self._latest):
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            first_at = loop.time()
            while self._count < self._batch_size and not self._closing:
                left = first_at + self._linger - loop.time()
                if left <= 0:
                    break
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(left):
                        await self._wakeup.wait()
                except TimeoutError:
                    break
            await self._commit_one()

    async def close(self) -> None:
        """No more input: return once `run` has committed everything put (or failed)."""
        self._closing = True
        self._wakeup.set()
        await self._stopped.wait()

    async def _commit_one(self) -> None:
        ticks = self._cut(self._batch_size)
        records, self._records = self._records, []
        # More keys than the bound must not keep the latest ticks out for good.
        if self._latest and (not self._count or self._count + len(self._latest) < self._bound):
            ticks.extend(self._latest.values())
            self._latest.clear()
            records.extend(self._gaps())
        self.writer.add(ticks, records)
        self._metrics.storage_backlog.set(self.backlog)
        await self.writer.flush()
        if self._count < self._bound:
            self._room.set()
        self._metrics.storage_backlog.set(self.backlog)

    def _cut(self, n: int) -> list[Tick]:
        """Up to n ticks from the front of the backlog."""
        batch: list[Tick] = []
        chunks = self._chunks
        while chunks and len(batch) < n:
            chunk = chunks[0]
            need = n - len(batch)
            if len(chunk) <= need:
                batch.extend(chunk)
                chunks.popleft()
            else:
                batch.extend(chunk[:need])
                chunks[0] = chunk[need:]
        self._count -= len(batch)
        return batch

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
            span = self._dropped.get(old[0])
            if span is None:
                self._dropped[old[0]] = _Dropped(old[6], old[6], 1)
            else:
                span.first = min(span.first, old[6])
                span.last = max(span.last, old[6])
                span.count += 1
        if dropped:
            self.dropped += dropped
            self._metrics.ticks_dropped.labels(DROP_REASON).inc(dropped)

    def _gaps(self) -> list[Record]:
        gaps: list[Record] = [
            FeedGap(
                exchange,
                span.first,
                span.last,
                f"{DROP_REASON}: {span.count} ticks not stored while the database "
                "could not be written",
            )
            for exchange, span in sorted(self._dropped.items())
        ]
        self._dropped.clear()
        return gaps
