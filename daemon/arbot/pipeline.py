"""The queue consumer: every tick to the detector and listeners, stored ticks to the writer.

Data flow per chunk of queue items (taken in bulk: one await, then get_nowait):
  Tick     -> detector.on_tick (EVERY tick, before conflation) -> listeners.on_tick
           -> signals/episodes become writer ops -> TickFilter -> writer buffer
  FeedDown -> detector.on_feed_down (its quotes stop counting) -> episodes closed
  FeedGap  -> a feed_gaps row
  None     -> stop: flush everything and return.
A batch is cut when it holds storage.batch_size ticks or storage.linger_ms after its first
row, whichever comes first. One batch commits while the next fills; if the next fills
before the commit ends (or the commit is retrying a database error) the pipeline waits, the
bounded queue fills up and the feeds wait in `put`: nothing is dropped, memory is bounded.
After `run` returns: accepted == committed + skipped. A crash loses only what was not yet
committed: the batch committing, the batch filling and the queue's contents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from arbot.conflation import TickFilter, TimestampSeparator
from arbot.metrics import Metrics
from arbot.models import Episode, FeedDown, FeedGap, QueueItem, Signal, Tick
from arbot.settings import StorageSettings
from arbot.storage import signals
from arbot.storage.gaps import insert_gap
from arbot.storage.writer import Writer, op_calling

Clock = Callable[[], float]


class DetectorLike(Protocol):
    def on_tick(self, tick: Tick, now: float) -> list[Signal | Episode]: ...
    def on_feed_down(self, exchange: str, now: float) -> list[Episode]: ...
    def open_episodes(self) -> int: ...
    def best_spreads(self) -> Mapping[str, float]: ...


class Listener(Protocol):
    def on_tick(self, tick: Tick, now: float) -> None: ...
    def on_signal(self, signal_id: int, signal: Signal, now: float) -> None: ...


class Pipeline:
    def __init__(
        self,
        writer: Writer,
        detector: DetectorLike | None,
        metrics: Metrics,
        storage_settings: StorageSettings,
        listeners: Sequence[Listener] = (),
    ) -> None:
        self._writer = writer
        self._detector = detector
        self._metrics = metrics
        self._batch_size = storage_settings.batch_size
        self._linger = storage_settings.linger_ms / 1000
        self._filter = TickFilter(storage_settings.conflate_ms, storage_settings.skip_unchanged)
        self._separator = TimestampSeparator()
        self._listeners = tuple(listeners)
        self._spread_symbols: set[str] = set()
        self.accepted = 0
        """Ticks taken from the queue."""

    @property
    def committed(self) -> int:
        return self._writer.committed

    @property
    def skipped(self) -> int:
        """Accepted ticks not stored, by conflation or skip-unchanged."""
        return self._filter.conflated + self._filter.unchanged

    async def run(self, queue: asyncio.Queue[QueueItem | None], clock: Clock = time.time) -> None:
        """Consume until a None sentinel; returns once everything taken is committed."""
        loop = asyncio.get_running_loop()
        in_flight: asyncio.Task[None] | None = None
        first_row_at: float | None = None
        async with asyncio.TaskGroup() as tg:
            stop = False
            while not stop:
                wait = self._linger
                if first_row_at is not None:
                    wait = max(0.0, first_row_at + self._linger - loop.time())
                room = max(1, self._batch_size - self._writer.pending_ticks)
                items, stop = await _take(queue, room, wait)
                self._metrics.queue_depth.set(queue.qsize())
                if items:
                    self._process(items, clock())
                # Ops may also come from other components (paper trades): linger covers them.
                if first_row_at is None and self._writer.pending:
                    first_row_at = loop.time()
                if first_row_at is None:
                    continue
                full = self._writer.pending_ticks >= self._batch_size
                if full or stop or loop.time() - first_row_at >= self._linger:
                    if in_flight is not None:
                        await in_flight  # one batch commits while the next fills, no more
                    self._update_gauges()
                    in_flight = tg.create_task(self._writer.flush())
                    first_row_at = None
            if in_flight is not None:
                await in_flight

    def _process(self, items: list[QueueItem], now: float) -> None:
        detector = self._detector
        listeners = self._listeners
        keep = self._filter.keep if self._filter.active else None
        separate = self._separator.stored_form
        stored: list[Tick] = []
        conflated, unchanged = self._filter.conflated, self._filter.unchanged
        accepted = 0
        for item in items:
            if type(item) is Tick:
                accepted += 1
                if detector is not None:
                    found = detector.on_tick(item, now)
                    if found:
                        self._record(found, now)
                for listener in listeners:
                    listener.on_tick(item, now)
                if keep is None or keep(item):
                    stored.append(separate(item))
            elif isinstance(item, FeedDown):
                if detector is not None:
                    self._record(detector.on_feed_down(item.exchange, now), now)
            elif isinstance(item, FeedGap):
                self._writer.submit(op_calling(insert_gap, item))
        self._writer.add_ticks(stored)
        self.accepted += accepted
        self._metrics.ticks_accepted.inc(accepted)
        if keep is not None:
            self._count_skipped(conflated, unchanged)

    def _record(self, found: Iterable[Signal | Episode], now: float) -> None:
        writer = self._writer
        for out in found:
            if isinstance(out, Signal):
                signal_id = writer.next_id("arbitrage_signals")
                writer.submit(op_calling(signals.insert_signal, signal_id, out))
                self._metrics.signals_recorded.inc()
                for listener in self._listeners:
                    listener.on_signal(signal_id, out, now)
            else:
                writer.submit(op_calling(signals.insert_episode, out))
                self._metrics.episodes_closed.inc()

    def _count_skipped(self, conflated_before: int, unchanged_before: int) -> None:
        if (n := self._filter.conflated - conflated_before) > 0:
            self._metrics.ticks_skipped.labels("conflated").inc(n)
        if (n := self._filter.unchanged - unchanged_before) > 0:
            self._metrics.ticks_skipped.labels("unchanged").inc(n)

    def _update_gauges(self) -> None:
        if self._detector is None:
            return
        self._metrics.opportunities_open.set(self._detector.open_episodes())
        spreads = self._detector.best_spreads()
        for symbol, spread in spreads.items():
            self._metrics.best_spread.labels(symbol).set(spread)
        for gone in self._spread_symbols - spreads.keys():
            self._metrics.best_spread.remove(gone)  # no current spread: no sample, not a stale one
        self._spread_symbols = set(spreads)


async def _take(
    queue: asyncio.Queue[QueueItem | None], limit: int, wait: float
) -> tuple[list[QueueItem], bool]:
    """Up to `limit` items and whether the sentinel came: one await (at most `wait`
    seconds) when the queue is empty, then get_nowait, which is far cheaper per item."""
    items: list[QueueItem] = []
    if queue.empty():
        try:
            async with asyncio.timeout(wait):
                first = await queue.get()
        except TimeoutError:
            return items, False
    else:
        await asyncio.sleep(0)  # let producers and other tasks run between chunks
        first = queue.get_nowait()
    if first is None:
        return items, True
    items.append(first)
    get = queue.get_nowait
    try:
        while len(items) < limit:
            item = get()
            if item is None:
                return items, True
            items.append(item)
    except asyncio.QueueEmpty:
        pass
    return items, False
