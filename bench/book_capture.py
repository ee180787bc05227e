"""Capture of order books (depth > 0): of the book updates fake exchanges send, how many
reach the feed's queue as books, and the feed's CPU cost per delivered book.

3 fake exchanges (binance diffs with U/u ids, okx `books` with checksums, kraken `book`
with checksums) in their own processes, SYMBOLS symbols each, 10-level books moving at a
fixed rate of updates per symbol; the feeds follow them at depth 10 through ccxt.pro's
book maintenance, on one event loop, into a bounded queue whose consumer counts books.
delivered/sent is books delivered over update frames the fakes sent in a steady window
(every update of a 10-level book changes its top 10); CPU is this process's over the
books delivered in the window. ARBOT_BENCH_CAPTURE_SECONDS sets the window (default 5)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import ExitStack

from arbot.feeds import run_feed
from arbot.localmarket.process import FakeProcess
from arbot.metrics import Metrics
from arbot.models import Book, QueueItem
from bench.capture import KINDS, QUEUE_SIZE, STEADY_WITHIN, WINDOW, _settings, _symbols

RATES = (20, 100, 500)
DEPTH = 10
SYMBOLS = 5


class _Count:
    def __init__(self) -> None:
        self.books = 0
        self.keys: set[tuple[str, str]] = set()
        self.all_seen = asyncio.Event()

    async def drain(self, queue: asyncio.Queue[QueueItem], keys: int) -> None:
        while True:
            item = await queue.get()
            if isinstance(item, Book):
                self.books += 1
                self.keys.add((item.exchange, item.symbol))
                if len(self.keys) == keys:
                    self.all_seen.set()


def _book_sent(fake: FakeProcess) -> int:
    return int(sum(fake.control("/_control/counters")["book_sent"].values()))


async def _measure(rate: int) -> tuple[int, int, float, float]:
    """Sent and delivered in the window, achieved updates/s per symbol, CPU µs a book."""
    with ExitStack() as stack:
        fakes = [
            stack.enter_context(
                FakeProcess(k, _symbols(q)[:SYMBOLS], rate, extra=("--book-levels", str(DEPTH)))
            )
            for k, q in KINDS.items()
        ]
        queue: asyncio.Queue[QueueItem] = asyncio.Queue(QUEUE_SIZE)
        count = _Count()
        keys = SYMBOLS * len(fakes)
        async with asyncio.TaskGroup() as tasks:
            consumer = tasks.create_task(count.drain(queue, keys))
            feeds = [
                tasks.create_task(
                    run_feed(_settings(f).model_copy(update={"depth": DEPTH}), queue.put, Metrics())
                )
                for f in fakes
            ]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STEADY_WITHIN):
                    await count.all_seen.wait()
            await asyncio.sleep(1.0)  # past the snapshots and the first diffs' backlog
            sent0, books0 = sum(map(_book_sent, fakes)), count.books
            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(WINDOW)
            sent1, books1 = sum(map(_book_sent, fakes)), count.books
            cpu1, wall1 = time.process_time(), time.monotonic()
            for task in (*feeds, consumer):
                task.cancel()
    delivered = books1 - books0
    return (
        sent1 - sent0,
        delivered,
        (sent1 - sent0) / (wall1 - wall0) / keys,
        (cpu1 - cpu0) / max(1, delivered) * 1e6,
    )


def main() -> None:
    print(
        f"{len(KINDS)} fake exchanges x {SYMBOLS} symbols, {DEPTH}-level books followed at "
        f"depth {DEPTH}; {WINDOW:g} s steady window per run; feeds -> bounded queue -> count"
    )
    print(
        f"{'rate/s/sym':>10}{'sent':>10}{'delivered':>11}{'deliv/sent':>12}{'sent/s/sym':>12}"
        f"{'CPU µs/book':>13}"
    )
    ratios: list[str] = []
    for rate in RATES:
        sent, delivered, achieved, cpu_us = asyncio.run(_measure(rate))
        ratio = delivered / sent if sent else 0.0
        ratios.append(f"{rate}/s={ratio:.4f} ({cpu_us:.0f} µs)")
        print(
            f"{rate:>10}{sent:>10,}{delivered:>11,}{ratio:>12.4f}{achieved:>12.1f}{cpu_us:>13.1f}",
            flush=True,
        )
    print(f"book capture: delivered/sent {' '.join(ratios)} (goal >= 0.999 at 100/s)")
