"""Recorded quotes as the engine's source, and the loop that runs them through it.

Replay and backtest share both: the same file gives the same ticks in the same order, and
the engine sees them in chunks on the data's clock (`now` = the latest receive time).
Rows may be in any order: they run in received-time order (the order they reached the
recorder), rows of one time in file order (a file already in order is streamed; otherwise
it is sorted in memory). Instants are runs of rows with the same exchange timestamp.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from arbot import quotes_csv
from arbot.engine import Engine
from arbot.errors import InputError
from arbot.models import Tick
from arbot.records import Output, Sink

CHUNK = 4096  # ticks per engine call
END_REASON = "end_of_input"


@dataclass(frozen=True, slots=True)
class QuoteFile:
    path: Path
    rows: int
    exchanges: tuple[str, ...]
    """Exchanges quoted, in order of first appearance."""
    in_order: bool
    content: str
    """What the quotes are, whatever their encoding (gzip or not, row order, timestamp
    format): an order-independent hash of the decoded rows and their count."""
    spans: Mapping[tuple[str, str], tuple[float, float]]
    """(exchange, symbol) -> first and last exchange timestamp quoted."""

    def ticks(self) -> Iterator[Tick]:
        """The file's ticks in received-time order (ties in file order)."""
        ticks = _read(self.path)
        if self.in_order:
            return ticks
        return iter(sorted(ticks, key=_received))


def open_quote_file(path: Path) -> QuoteFile:
    """Check the whole file (InputError names file and line of the first bad row); on a
    terminal a progress bar counts the bytes read."""
    rows = 0
    exchanges: dict[str, None] = {}
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    previous = float("-inf")
    in_order = True
    total = 0
    with quotes_csv.progress_bar(path) as progress:
        for tick in _read(path, progress):
            rows += 1
            exchanges[tick.exchange] = None
            key = (tick.exchange, tick.symbol)
            first, last = spans.get(key, (tick.timestamp, tick.timestamp))
            spans[key] = (min(first, tick.timestamp), max(last, tick.timestamp))
            if tick.received < previous:
                in_order = False
            previous = tick.received
            total = (total + _row_hash(tick)) & _MASK
    content = f"quotes-v1:{rows}:{total:032x}"
    return QuoteFile(path, rows, tuple(exchanges), in_order, content, spans)


def run(
    engine: Engine, ticks: Iterable[Tick], progress: Callable[[int], object] | None = None
) -> Iterator[Output]:
    """The engine's outputs, chunk by chunk, then those of the end of input (episodes
    still open close with reason END_REASON; pending paper trades fail as stale)."""
    chunk: list[Tick] = []
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
    ticks: Iterable[Tick],
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


def _read(path: Path, progress: quotes_csv.Progress | None = None) -> Iterator[Tick]:
    return quotes_csv.read_quotes(path, InputError, "quote file", in_order=False, progress=progress)


def _received(tick: Tick) -> float:
    return tick.received


_MASK = (1 << 128) - 1


def _row_hash(t: Tick) -> int:
    """One decoded row's 128-bit hash; summed over the rows, the order does not count.
    Times to the microsecond, so 1723161254.58 s and 1723161254580 ms hash alike."""
    row = (
        f"{t.exchange}\x1f{t.symbol}\x1f{t.bid!r}\x1f{t.ask!r}\x1f{t.bid_size!r}\x1f"
        f"{t.ask_size!r}\x1f{round(t.timestamp * 1e6)}\x1f{round(t.received * 1e6)}"
    )
    return int.from_bytes(hashlib.blake2b(row.encode(), digest_size=16).digest(), "big")
