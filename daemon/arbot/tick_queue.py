"""The bounded queue between the feeds and the pipeline.

Many feeds put one item at a time; one consumer takes a chunk at a time. asyncio.Queue
pays on every item for what matters only at the edges (full() and qsize() calls, waking
the next getter on every put, one await per get): about a third of the event loop's time
per tick at full rate (`make bench`). Here a put appends and wakes the consumer only when
it waits, and a take pops a chunk. The contract is asyncio.Queue's: FIFO and bounded (put
waits while the queue is full, put_nowait raises QueueFull); `close` ends the input.
"""

from __future__ import annotations

import asyncio
from collections import deque

from arbot.models import QueueItem


class TickQueue:
    """Only use it from one event loop, with one consumer."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: deque[QueueItem] = deque()
        self._taker: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def put_nowait(self, item: QueueItem) -> None:
        if len(self._items) >= self.maxsize:
            raise asyncio.QueueFull
        self._items.append(item)
        if self._taker is not None:
            self._wake_taker()

    async def put(self, item: QueueItem) -> None:
        """Append `item`, first waiting (in turn with other waiting feeds) while full."""
        while len(self._items) >= self.maxsize:
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._putters:
                    self._putters.remove(waiter)
                elif not self.full():
                    self._wake_putters()  # the room it was woken for goes to the next one
                raise
        self._items.append(item)
        if self._taker is not None:
            self._wake_taker()

    def close(self) -> None:
        """No more input: `take` reports the end once everything put before is taken."""
        self._closed = True
        if self._taker is not None:
            self._wake_taker()

    async def take(self, limit: int, wait: float) -> tuple[list[QueueItem], bool]:
        """Up to `limit` items, oldest first, and whether the input has ended (closed and
        all taken). Waits at most `wait` seconds when the queue is empty; otherwise yields
        once, so that producers and other tasks run between chunks."""
        items = self._items
        if items:
            await asyncio.sleep(0)
        elif not self._closed:
            taker = self._taker = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(wait):
                    await taker
            except TimeoutError:
                pass
            finally:
                self._taker = None
        n = min(limit, len(items))
        pop = items.popleft
        chunk = [pop() for _ in range(n)]
        if self._putters:
            self._wake_putters()
        return chunk, self._closed and not items

    def _wake_taker(self) -> None:
        taker, self._taker = self._taker, None
        if taker is not None and not taker.done():
            taker.set_result(None)

    def _wake_putters(self) -> None:
        room = self.maxsize - len(self._items)
        putters = self._putters
        while putters and room > 0:
            waiter = putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1
