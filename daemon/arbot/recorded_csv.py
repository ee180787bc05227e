"""The recorded-data files read by `arbot replay` and `arbot backtest`: which layout a
header is, and the file's quotes and order books in file order.

Layouts, told apart by the header (extra columns are ignored): quotes (arbot or Tardis
`quotes`, quotes_csv.py), books one a row (Tardis `book_snapshot_N` or the wide
b1..bN layout, books_csv.py) and Tardis `incremental_book_L2` (book_diffs.py); a book
layout's file may hold quote rows too when its header has a quote layout's columns. Plain
or gzip (told by its magic bytes, not the name), UTF-8 with or without a BOM, times as in
csv_input.py. Errors name the file, and the line of the first bad row: skipping rows would
silently change what the detector sees.
"""

from __future__ import annotations

import csv
import gzip
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from arbot.book_diffs import INCREMENTAL_COLUMNS, BookDiffs
from arbot.books_csv import (
    TARDIS_BOOK_COLUMNS,
    WIDE_TIMES,
    DepthOf,
    tardis_book_parser,
    wide_book_parser,
)
from arbot.csv_input import Clock, HeaderError, Progress, header_names, open_csv
from arbot.errors import ArbotError
from arbot.models import Book, Tick
from arbot.quotes_csv import ARBOT_COLUMNS, TARDIS_COLUMNS, arbot_parser, tardis_parser

Item = Tick | Book


@dataclass(frozen=True, slots=True)
class Layout:
    noun: str
    """What a row is, for errors: quote or book."""
    items: Callable[[Iterator[list[str]]], Iterator[Item]]
    """The data rows -> items, in file order."""


def read_items(
    path: Path,
    error: type[ArbotError],
    what: str,
    *,
    in_order: bool,
    depth_of: DepthOf | None = None,
    progress: Progress | None = None,
) -> Iterator[Item]:
    """Ticks and books of `path` in file order, raising `error` (`what` names the file's
    role in the "cannot read" message); with `in_order` an item received earlier than the
    one before is an error. `depth_of(exchange)` is the number of levels a side kept of
    its books (None: all a row has; incremental_book_L2: book_diffs.DEFAULT_DEPTH).
    `progress(n)` is called as n more bytes of the file (compressed) are read."""
    with open_csv(path, error, what, progress) as binary:
        # Decoding line by line (not in chunks) makes a bad byte fail on its own line.
        rows = csv.reader(map(bytes.decode, binary))
        noun = "quote"
        try:
            layout = layout_for(header_names(next(rows, [])), depth_of or _all_levels)
            noun = layout.noun
            previous = -math.inf
            for item in layout.items(rows):
                if in_order and item.received < previous:
                    raise ValueError(f"time {item.received} is earlier than the previous row's")
                previous = item.received
                yield item
        except UnicodeDecodeError as exc:
            byte = f"byte {exc.object[exc.start]:#04x} at column {exc.start + 1}"
            raise error(f"{path}:{rows.line_num + 1}: not UTF-8 text ({byte})") from None
        except HeaderError as exc:
            raise error(f"{path}: {exc}") from None
        except (EOFError, zlib.error, gzip.BadGzipFile):
            at = f"after line {rows.line_num}"
            raise error(f"{path}: gzip data is truncated or corrupt {at}") from None
        except OSError as exc:
            raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
        except (ValueError, csv.Error) as exc:
            raise error(f"{path}:{rows.line_num}: bad {noun} row: {exc}") from None


def layout_for(names: Sequence[str], depth_of: DepthOf) -> Layout:
    """The layout of a file with this header."""
    tardis_quotes = set(TARDIS_COLUMNS).issubset(names)
    clocks = Clock("timestamp"), Clock("local_timestamp")
    if "asks[0].price" in names or "bids[0].price" in names:
        _require(names, (*TARDIS_BOOK_COLUMNS, "asks[0].amount", "bids[0].price", "bids[0].amount"))
        quote = tardis_parser(names, *clocks) if tardis_quotes else None
        return Layout("book", _each(tardis_book_parser(names, depth_of, clocks, quote)))
    if "is_snapshot" in names:
        _require(names, INCREMENTAL_COLUMNS)
        quote = tardis_parser(names, *clocks) if tardis_quotes else None
        return Layout("book", _diffs(BookDiffs(names, depth_of, clocks, quote)))
    if "b1" in names or "a1" in names:
        time = next((c for c in WIDE_TIMES if c in names), WIDE_TIMES[0])
        _require(names, (time, "exchange", "symbol", "b1", "bv1", "a1", "av1"))
        ts = Clock(time)
        received = Clock("local_timestamp") if "local_timestamp" in names else ts
        quote = arbot_parser(names, ts) if set(ARBOT_COLUMNS).issubset(names) else None
        return Layout("book", _each(wide_book_parser(names, depth_of, (ts, received), quote)))
    if tardis_quotes:
        return Layout("quote", _each(tardis_parser(names, *clocks)))
    if not names:
        raise HeaderError("no CSV header (expected " + ",".join(ARBOT_COLUMNS) + ")")
    _require(names, ARBOT_COLUMNS)
    return Layout("quote", _each(arbot_parser(names, Clock("ts"))))


def _require(names: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise HeaderError(f"CSV header lacks column(s) {', '.join(missing)}")


def _each(parse: Callable[[list[str]], Item]) -> Callable[[Iterator[list[str]]], Iterator[Item]]:
    """A layout of one item a row."""

    def items(rows: Iterator[list[str]]) -> Iterator[Item]:
        row: list[str] = []
        try:
            for row in rows:
                if row:
                    yield parse(row)
        except IndexError:
            raise ValueError(f"only {len(row)} fields") from None

    return items


def _diffs(diffs: BookDiffs) -> Callable[[Iterator[list[str]]], Iterator[Item]]:
    def items(rows: Iterator[list[str]]) -> Iterator[Item]:
        row: list[str] = []
        try:
            for row in rows:
                if row:
                    yield from diffs.row(row)
        except IndexError:
            raise ValueError(f"only {len(row)} fields") from None
        yield from diffs.end()

    return items


def _all_levels(_exchange: str) -> int | None:
    return None
