"""Tardis `incremental_book_L2` rows -> order books, as the live feed would hand them on
(read by recorded_csv.py).

Columns `exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount`; times
and symbols as in Tardis quotes (quotes_csv.py); `side` is bid or ask, `is_snapshot` true
or false. Per exchange and symbol, following Tardis' rules: a run of is_snapshot=true rows
after rows that were not (or at the start) discards the book and starts a fresh one (its
book is marked resync); rows before the symbol's first snapshot are skipped (updates
buffered before the exchange sent it); amount 0 removes the price level, any other amount
sets it. Rows of one symbol with the same local_timestamp are one update, handed on as one
book of its best `depth` levels a side once a later row comes (or at the end), stamped with
the update's last `timestamp`. A book the live feed would reject (a side empty, crossed) is
not handed on. A symbol's local_timestamp must not go back: its updates would not add up.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Sequence

from arbot.books_csv import DepthOf
from arbot.csv_input import Clock
from arbot.models import Book, Level, Tick
from arbot.quotes_csv import QuoteParser, symbol_mapper

INCREMENTAL_COLUMNS = (
    *("exchange", "symbol", "timestamp", "local_timestamp"),
    *("is_snapshot", "side", "price", "amount"),
)
DEFAULT_DEPTH = 10  # levels a side kept when neither --depth nor the config names one
_FLAGS = {"true": True, "false": False}


class _Side:
    """One side's price levels, kept sorted best first by a key that rises (price for
    asks, -price for bids): an update touches few levels, a book can hold thousands."""

    __slots__ = ("amounts", "keys", "sign")

    def __init__(self, sign: float) -> None:
        self.amounts: dict[float, float] = {}
        self.keys: list[float] = []
        self.sign = sign

    def set(self, price: float, amount: float) -> None:
        key = price * self.sign
        if amount == 0.0:
            if self.amounts.pop(price, None) is not None:
                del self.keys[bisect_left(self.keys, key)]
            return
        if price not in self.amounts:
            insort(self.keys, key)
        self.amounts[price] = amount

    def top(self, n: int) -> tuple[Level, ...]:
        sign, amounts = self.sign, self.amounts
        return tuple((key * sign, amounts[key * sign]) for key in self.keys[:n])


class _Symbol:
    """One exchange's book of one symbol and its update under way."""

    __slots__ = (
        *("asks", "bids", "depth", "exchange", "local", "resync", "snapshot", "started"),
        *("symbol", "ts"),
    )

    def __init__(self, exchange: str, symbol: str, depth: int) -> None:
        self.exchange, self.symbol, self.depth = exchange, symbol, depth
        self.bids, self.asks = _Side(-1.0), _Side(1.0)
        self.snapshot = False  # the last row was part of a snapshot
        self.started = False  # a snapshot came: rows before it are skipped
        self.resync = False  # the next book handed on starts afresh
        self.local = -math.inf  # local_timestamp of the last row
        self.ts = 0.0

    def book(self) -> Book | None:
        bids, asks = self.bids.top(self.depth), self.asks.top(self.depth)
        if not bids or not asks or asks[0][0] < bids[0][0]:
            return None
        book = Book(self.exchange, self.symbol, bids, asks, self.ts, self.local, self.resync)
        self.resync = False
        return book


class BookDiffs:
    """The books of a file's incremental_book_L2 rows, row by row (`row`, then `end`)."""

    def __init__(
        self,
        names: Sequence[str],
        depth_of: DepthOf,
        clocks: tuple[Clock, Clock],
        quote: QuoteParser | None,
    ) -> None:
        """`clocks` read timestamp and local_timestamp; with `quote`, a row without a side
        is a quote row."""
        self._at = [names.index(c) for c in INCREMENTAL_COLUMNS]
        self._ts, self._local = clocks[0].seconds, clocks[1].seconds
        self._quote = quote
        self._depth_of = depth_of
        self._symbol_of = symbol_mapper(keep_unified=False)
        self._symbols: dict[tuple[str, str], _Symbol] = {}
        self._open: dict[tuple[str, str], _Symbol] = {}  # updates not yet handed on

    def row(self, row: list[str]) -> list[Tick | Book]:
        """The books (and the quote) completed by this row."""
        i_exchange, i_symbol, i_ts, i_local, i_snapshot, i_side, i_price, i_amount = self._at
        out: list[Tick | Book] = []
        side = row[i_side]
        if not side and self._quote is not None:
            tick = self._quote(row)
            self._hand_on(tick.received, out)
            out.append(tick)
            return out
        exchange = row[i_exchange]
        if not exchange:
            raise ValueError("need an exchange")
        key = (exchange, self._symbol_of(row[i_symbol]))
        ts, local = self._ts(row[i_ts]), self._local(row[i_local])
        snapshot = _FLAGS.get(row[i_snapshot].lower())
        if snapshot is None:
            raise ValueError(f"is_snapshot must be true or false, got {row[i_snapshot]!r}")
        if side not in ("bid", "ask"):
            raise ValueError(f"side must be bid or ask, got {side!r}")
        price, amount = float(row[i_price]), float(row[i_amount])
        if not (math.isfinite(price) and price > 0.0):
            raise ValueError(f"price must be a positive number, got {row[i_price]!r}")
        if not (math.isfinite(amount) and amount >= 0.0):
            raise ValueError(f"amount must be a non-negative number, got {row[i_amount]!r}")
        state = self._symbols.get(key)
        if state is None:
            depth = self._depth_of(exchange) or DEFAULT_DEPTH
            state = self._symbols[key] = _Symbol(*key, depth)
        elif local < state.local:
            raise ValueError(f"local_timestamp goes back for {key[0]} {key[1]}")
        self._hand_on(local, out)
        if snapshot and not state.snapshot:
            state.bids, state.asks = _Side(-1.0), _Side(1.0)
            state.started = state.resync = True
        state.snapshot = snapshot
        state.local, state.ts = local, ts
        if state.started:
            (state.bids if side == "bid" else state.asks).set(price, amount)
            self._open[key] = state
        return out

    def end(self) -> list[Tick | Book]:
        """The books of the updates still under way at the end of the file."""
        out: list[Tick | Book] = []
        self._hand_on(math.inf, out)
        return out

    def _hand_on(self, before: float, out: list[Tick | Book]) -> None:
        """Hand on the updates received before `before`, oldest first: a later row ends
        them (a symbol's rows do not go back)."""
        done = sorted((s for s in self._open.values() if s.local < before), key=_local)
        for state in done:
            del self._open[(state.exchange, state.symbol)]
            book = state.book()
            if book is not None:
                out.append(book)


def _local(state: _Symbol) -> float:
    return state.local
