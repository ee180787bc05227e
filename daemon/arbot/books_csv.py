"""Order-book rows of recorded data (read by recorded_csv.py): one row, one book.

- Tardis `book_snapshot_N`: `exchange,symbol,timestamp,local_timestamp` and, for level i
  from 0, `asks[i].price,asks[i].amount,bids[i].price,bids[i].amount`; times and symbols
  as in Tardis quotes (quotes_csv.py). N is the number of complete levels in the header.
- wide: `ts` (or `timestamp`), `exchange`, `symbol` and, for level i from 1 (the best),
  `bi` (bid price), `bvi` (its amount), `ai` (ask price), `avi` (its amount), in any
  column order; the time is both the exchange's and the received time, as in the arbot
  quote layout, unless a `local_timestamp` column gives the received time; a symbol
  without `/` is unified as Tardis symbols are.

Levels come best first; a thinner book leaves its deepest levels empty (price and
amount). Each level must hold what the live feed accepts of a book (feeds/validate.py):
a finite price > 0 and amount ≥ 0, prices strictly falling (bids) or rising (asks), the
best ask not below the best bid, a level on each side. A row without any level is a quote
row when the header also has a quote layout's columns, so quotes and books mix in a file.
With a depth N for the row's exchange, the best N levels are kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from arbot.csv_input import Clock
from arbot.models import Book, Level, Tick
from arbot.quotes_csv import QuoteParser, symbol_mapper

TARDIS_BOOK_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp")
WIDE_TIMES = ("ts", "timestamp")  # the wide layout's time column, the first found

BookParser = Callable[[list[str]], Tick | Book]
DepthOf = Callable[[str], int | None]
"""The levels a side to keep of an exchange's books (None: all the data has)."""
Columns = Sequence[tuple[int, int]]  # (price, amount) column of each level, best first


def tardis_levels(names: Sequence[str]) -> int:
    """N of a book_snapshot_N header: its complete levels from 0."""
    n = 0
    while all(f"{s}[{n}].{f}" in names for s in ("asks", "bids") for f in ("price", "amount")):
        n += 1
    return n


def wide_levels(names: Sequence[str]) -> int:
    """N of a wide header: its complete levels from 1."""
    n = 0
    while all(f"{c}{n + 1}" in names for c in ("b", "bv", "a", "av")):
        n += 1
    return n


def tardis_book_parser(
    names: Sequence[str],
    depth_of: DepthOf,
    clocks: tuple[Clock, Clock],
    quote: QuoteParser | None,
) -> BookParser:
    """Rows of a book_snapshot_N header; `clocks` read timestamp and local_timestamp."""
    n = tardis_levels(names)
    bids = [(names.index(f"bids[{i}].price"), names.index(f"bids[{i}].amount")) for i in range(n)]
    asks = [(names.index(f"asks[{i}].price"), names.index(f"asks[{i}].amount")) for i in range(n)]
    at = [names.index(c) for c in TARDIS_BOOK_COLUMNS]
    times = (at[2], clocks[0]), (at[3], clocks[1])
    symbol_of = symbol_mapper(keep_unified=False)
    keys = (at[0], at[1], symbol_of)
    return _parser(names, (bids, asks), keys, times, depth_of=depth_of, quote=quote)


def wide_book_parser(
    names: Sequence[str], depth_of: DepthOf, clocks: tuple[Clock, Clock], quote: QuoteParser | None
) -> BookParser:
    """Rows of a wide header; `clocks` read the exchange's and the received time (one
    column or two)."""
    n = range(1, wide_levels(names) + 1)
    bids = [(names.index(f"b{i}"), names.index(f"bv{i}")) for i in n]
    asks = [(names.index(f"a{i}"), names.index(f"av{i}")) for i in n]
    i_exchange, i_symbol = names.index("exchange"), names.index("symbol")
    symbol_of = symbol_mapper(keep_unified=True)
    times = (names.index(clocks[0].column), clocks[0]), (names.index(clocks[1].column), clocks[1])
    keys = (i_exchange, i_symbol, symbol_of)
    return _parser(names, (bids, asks), keys, times, depth_of=depth_of, quote=quote)


def _parser(
    names: Sequence[str],
    sides: tuple[Columns, Columns],
    keys: tuple[int, int, Callable[[str], str]],
    times: tuple[tuple[int, Clock], tuple[int, Clock]],
    *,
    depth_of: DepthOf,
    quote: QuoteParser | None,
) -> BookParser:
    bid_columns, ask_columns = sides
    i_exchange, i_symbol, symbol_of = keys
    (i_ts, ts_of), (i_local, local_of) = times
    depths: dict[str, int | None] = {}

    def parse(row: list[str]) -> Tick | Book:
        bids = levels(row, bid_columns, names, -1.0)
        asks = levels(row, ask_columns, names, 1.0)
        if not bids and not asks and quote is not None:
            return quote(row)
        if not bids or not asks:
            raise ValueError("need a bid and an ask level at least")
        if asks[0][0] < bids[0][0]:
            raise ValueError(f"crossed book: best bid {bids[0][0]} above best ask {asks[0][0]}")
        exchange = row[i_exchange]
        if not exchange:
            raise ValueError("need an exchange")
        symbol = symbol_of(row[i_symbol])
        ts, received = ts_of.seconds(row[i_ts]), local_of.seconds(row[i_local])
        if exchange not in depths:
            depths[exchange] = depth_of(exchange)
        n = depths[exchange]
        if n is not None:
            bids, asks = bids[:n], asks[:n]
        return Book(exchange, symbol, bids, asks, ts, received)

    return parse


def levels(
    row: list[str], columns: Columns, names: Sequence[str], sign: float
) -> tuple[Level, ...]:
    """One side's levels of `row`, best first, checked as the live feed checks a book's
    (`sign` -1 for bids, whose prices fall, 1 for asks)."""
    out: list[Level] = []
    previous = -math.inf * sign
    for k, (i_price, i_amount) in enumerate(columns):
        price_text, amount_text = row[i_price], row[i_amount]
        if not price_text and not amount_text:
            deeper = next((names[i] for p, a in columns[k + 1 :] for i in (p, a) if row[i]), None)
            if deeper is not None:
                raise ValueError(f"{deeper} is set below the empty level {names[i_price]}")
            break
        price, amount = _number(price_text, names[i_price]), _number(amount_text, names[i_amount])
        if price <= 0.0:
            raise ValueError(f"{names[i_price]} must be positive, got {price_text!r}")
        if amount < 0.0:
            raise ValueError(f"{names[i_amount]} must not be negative, got {amount_text!r}")
        if (price - previous) * sign <= 0.0:
            order = "falling" if sign < 0 else "rising"
            raise ValueError(f"{names[i_price]} {price_text} breaks the {order} price order")
        previous = price
        out.append((price, amount))
    return tuple(out)


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{column} must be a finite number, got {text!r}")
    return value
