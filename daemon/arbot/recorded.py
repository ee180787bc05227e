"""Recorded quotes and order books as the engine's source, and the loop that runs them
through it.

Replay and backtest share both: the same file gives the same items in the same order, and
the engine sees them in chunks on the data's clock (`now` = the latest receive time).
Rows may be in any order: they run in received-time order (the order they reached the
recorder), rows of one time in file order (a file already in order is streamed; otherwise
it is sorted in memory). Order books then go to the engine as the live depth feed hands
them on (`as_fed`). Instants are runs of items with the same exchange timestamp. A data
dir's ticks and books of a range go to the engine merged as the daemon's engine saw them
(`stored_items`).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from arbot import csv_input
from arbot.books_csv import DepthOf
from arbot.engine import Engine
from arbot.errors import InputError
from arbot.feeds.validate import top_of
from arbot.models import Book, Level, QueueItem, Tick
from arbot.recorded_csv import Item, read_items
from arbot.records import Output, Sink
from arbot.settings import ExchangeSettings

CHUNK = 4096  # items per engine call
END_REASON = "end_of_input"


@dataclass(frozen=True, slots=True)
class QuoteFile:
    path: Path
    rows: int
    """Items the engine gets: ticks (those of book tops too) and books."""
    exchanges: tuple[str, ...]
    """Exchanges quoted, in order of first appearance."""
    in_order: bool
    content: str
    """What the quotes and books are, whatever their encoding (gzip or not, row order,
    timestamp format, the layout of a book): an order-independent hash of the decoded rows
    and their count."""
    spans: Mapping[tuple[str, str], tuple[float, float]]
    """(exchange, symbol) -> first and last exchange timestamp quoted or booked."""
    depth_of: DepthOf | None = None
    """Levels a side kept of an exchange's books (recorded_csv.read_items)."""

    def ticks(self) -> Iterator[Item]:
        """The file's ticks and books in received-time order (ties in file order), as the
        live feeds would have handed them on."""
        items = _read(self.path, self.depth_of)
        if not self.in_order:
            items = iter(sorted(items, key=_received))
        return as_fed(items)


def open_quote_file(path: Path, depth_of: DepthOf | None = None) -> QuoteFile:
    """Check the whole file (InputError names file and line of the first bad row); on a
    terminal a progress bar counts the bytes read."""
    rows = 0
    exchanges: dict[str, None] = {}
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    previous = float("-inf")
    in_order = True
    total = 0
    items = 0

    def checked(progress: csv_input.Progress | None) -> Iterator[Item]:
        nonlocal rows, previous, in_order, total
        for item in _read(path, depth_of, progress):
            rows += 1
            exchanges[item.exchange] = None
            key = (item.exchange, item.symbol)
            first, last = spans.get(key, (item.timestamp, item.timestamp))
            spans[key] = (min(first, item.timestamp), max(last, item.timestamp))
            if item.received < previous:
                in_order = False
            previous = item.received
            total = (total + _row_hash(item)) & _MASK
            yield item

    with csv_input.progress_bar(path) as progress:
        # Counted as fed in file order: exact when the file is in order (else near).
        for _ in as_fed(checked(progress)):
            items += 1
    content = f"quotes-v1:{rows}:{total:032x}"
    return QuoteFile(path, items, tuple(exchanges), in_order, content, spans, depth_of)


def book_depths(exchanges: Iterable[ExchangeSettings], depth: int | None) -> DepthOf:
    """Levels a side kept of an exchange's books: `depth` (--depth) when given, else the
    exchange's configured depth when it has one (> 0), else None (the reader's default)."""
    configured = {e.name: e.depth for e in exchanges if e.depth > 0}

    def depth_of(exchange: str) -> int | None:
        return depth if depth is not None else configured.get(exchange)

    return depth_of


def as_fed(items: Iterable[Item]) -> Iterator[Item]:
    """Items as the live depth feed hands them on (feeds/feed.py, feeds/capture.py): a
    book equal to its symbol's last one is dropped; a book whose top changed comes after
    that top as a tick of its own; a symbol's first book, and one marked resync, is
    flagged resync and handed on whole. Ticks pass as they are."""
    books: dict[tuple[str, str], tuple[tuple[Level, ...], tuple[Level, ...]]] = {}
    tops: dict[tuple[str, str], tuple[Level, Level]] = {}
    for item in items:
        if not isinstance(item, Book):
            yield item
            continue
        key = (item.exchange, item.symbol)
        levels = (item.bids, item.asks)
        if item.resync:
            books.pop(key, None)
            tops.pop(key, None)
        elif books.get(key) == levels:
            continue
        book = item if key in books else item._replace(resync=True)
        books[key] = levels
        top = (book.bids[0], book.asks[0])
        if tops.get(key) != top:
            tops[key] = top
            yield top_of(book)
        yield book


def stored_items(ticks: Iterable[Tick], books: Iterable[Book]) -> Iterator[Item]:
    """Stored ticks and books of a range, each in (timestamp, exchange, symbol) order, as
    the daemon's engine got them: merged, a book after its top's tick of the same instant
    (the depth feed's order). A resync book (a key's first in the range, or a feed's
    rebuild) comes after its top as a tick even when none of that instant is stored: the
    feed hands a resync book's top on (`as_fed`), and the daemon's engine had it from before
    the range; the storage filter may have skipped it as unchanged."""
    last_tick: dict[tuple[str, str], Tick] = {}
    sources: tuple[Iterable[Item], Iterable[Item]] = (ticks, books)  # not their join, a tuple
    for item in heapq.merge(*sources, key=_stored_order):
        if isinstance(item, Tick):
            last_tick[(item.exchange, item.symbol)] = item
        elif item.resync:
            top = top_of(item)
            if last_tick.get((item.exchange, item.symbol)) != top:
                last_tick[(item.exchange, item.symbol)] = top
                yield top
        yield item


def _stored_order(item: Item) -> tuple[float, str, str, bool]:
    return item.timestamp, item.exchange, item.symbol, isinstance(item, Book)


def run(
    engine: Engine, ticks: Iterable[QueueItem], progress: Callable[[int], object] | None = None
) -> Iterator[Output]:
    """The engine's outputs, chunk by chunk, then those of the end of input (episodes
    still open close with reason END_REASON; pending paper trades fail as stale)."""
    chunk: list[QueueItem] = []
    for tick in ticks:
        chunk.append(tick)
        if len(chunk) == CHUNK:
            yield engine.process(chunk, complete=False)
            if progress is not None:
                progress(len(chunk))
            chunk = []
    if chunk:
        yield engine.process(chunk, complete=False)
        if progress is not None:
            progress(len(chunk))
    yield engine.finish(None, END_REASON, keep_open=False)


async def drive(
    engine: Engine,
    ticks: Iterable[QueueItem],
    sink: Sink,
    progress: Callable[[int], object] | None = None,
) -> None:
    """A finite source through the engine into `sink` on the data's clock, as replay and
    backtest run it; the sink is closed (everything put stored) whatever happens."""
    try:
        for out in run(engine, ticks, progress):
            sink.put(out)
            await sink.room()
    finally:
        await sink.close()


def _read(
    path: Path, depth_of: DepthOf | None, progress: csv_input.Progress | None = None
) -> Iterator[Item]:
    return read_items(
        path, InputError, "quote file", in_order=False, depth_of=depth_of, progress=progress
    )


def _received(item: Item) -> float:
    return item.received


_MASK = (1 << 128) - 1


def _row_hash(item: Item) -> int:
    """One decoded row's (or book's) 128-bit hash; summed over the rows, the order does
    not count. Times to the microsecond, so 1723161254.58 s and 1723161254580 ms hash
    alike."""
    if isinstance(item, Tick):
        t = item
        row = (
            f"{t.exchange}\x1f{t.symbol}\x1f{t.bid!r}\x1f{t.ask!r}\x1f{t.bid_size!r}\x1f"
            f"{t.ask_size!r}\x1f{round(t.timestamp * 1e6)}\x1f{round(t.received * 1e6)}"
        )
    else:
        b = item
        row = (
            f"book\x1f{b.exchange}\x1f{b.symbol}\x1f{b.bids!r}\x1f{b.asks!r}\x1f"
            f"{round(b.timestamp * 1e6)}\x1f{round(b.received * 1e6)}"
        )
    return int.from_bytes(hashlib.blake2b(row.encode(), digest_size=16).digest(), "big")
