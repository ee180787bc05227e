"""Books to `books` rows, for one writer session (both backends; the codec is books.py).

Each (exchange, symbol) gets a snapshot at its first book in the session (an earlier
run's levels are not read back, only its last row's time), after a book with `resync`, at
least every SNAPSHOT_SECONDS, at its first book of each UTC day (so a day dropped whole by
retention leaves the next day rebuildable) and whenever a delta could not rebuild the book
exactly; otherwise a delta against its previous row.

A key's stored times never go back, or its deltas would be applied out of order: a book
stamped at or before the key's last row (also one read from the database at first sight)
is stored at that row's time and replaces it (the later book wins, as for ticks), as a
delta against what that row changed, or a snapshot if that row was one. A resync at that
instant stays marked.

The state moves on only when the caller's transaction commits (`commit`); `rows` always
starts again from the committed state, so a retried batch encodes the same rows."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from arbot.models import Book, Level
from arbot.storage.books import DELTA, RESYNC, SNAPSHOT, SNAPSHOT_SECONDS, Side, anchors, pack

DAY = 86_400
Key = tuple[str, str]  # (exchange, symbol)
IdKey = tuple[int, int]  # (symbol_id, exchange_id)
Row = tuple[int, int, float, int, int, bytes]  # symbol_id, exchange_id, ts, kind, recv ms, levels
COLUMNS = "symbol_id, exchange_id, ts, kind, recv_delta_ms, levels"
Sets = tuple[set[Level], set[float]]  # a side's levels and prices


class _Levels(NamedTuple):
    """A stored book; the sets of a side are kept from the delta that made it (a tuple's
    hash is not cached: hashing the old side again would cost as much as the new)."""

    bids: Side
    asks: Side
    bid_sets: Sets | None = None
    ask_sets: Sets | None = None


class _State(NamedTuple):
    ts: float  # time of the key's last row
    snapshot_ts: float  # time of its last snapshot
    book: _Levels  # the book after the last row
    base: _Levels | None  # the book a delta last row changed; None: a snapshot
    kind: int


class Encoded(NamedTuple):
    rows: list[Row]  # rows for keys not stored yet
    replacing: list[Row]  # rows whose key (symbol_id, exchange_id, ts) may be stored already


class BookRows:
    """Only one writer session may write a key's rows (each daemon or shard owns its keys)."""

    def __init__(self) -> None:
        self._states: dict[Key, _State] = {}
        self._pending: dict[Key, _State] = {}

    def rows(
        self,
        books: Sequence[Book],
        symbols: Mapping[str, int],
        exchanges: Mapping[str, int],
        stored: Callable[[list[IdKey]], Mapping[IdKey, tuple[float, int]]],
    ) -> Encoded:
        """The rows of `books` (their names must have ids). `stored` gives the time and kind
        of the last stored row of keys seen for the first time (absent: none)."""
        states = self._states
        pending: dict[Key, _State] = {}
        self._pending = pending
        first = {(b[0], b[1]) for b in books} - states.keys()
        ids = {key: (symbols[key[1]], exchanges[key[0]]) for key in first}
        found = stored(list(ids.values())) if ids else {}
        last_stored = {key: found[i] for key, i in ids.items() if i in found}
        out: dict[tuple[Key, float], Row] = {}
        for book in books:
            key = (book[0], book[1])
            state = pending.get(key) or states.get(key)
            ts = book[4]
            resync = book[6]
            base: _Levels | None
            if state is None:
                base = None
                last = last_stored.get(key)
                if last is not None and ts <= last[0]:
                    ts = last[0]
                    resync = resync or last[1] == RESYNC
                snapshot_ts = ts
            elif ts > state.ts:
                base, snapshot_ts = state.book, state.snapshot_ts
            else:  # replaces the key's last row
                ts, base, snapshot_ts = state.ts, state.base, state.snapshot_ts
                resync = resync or state.kind == RESYNC
            delta = None
            if (
                base is not None
                and not resync
                and ts - snapshot_ts < SNAPSHOT_SECONDS
                and ts // DAY == snapshot_ts // DAY
            ):
                delta = _delta(base, book)
            if delta is None:
                kind = RESYNC if resync else SNAPSHOT
                blob = pack(book[2], book[3], (0, 0))
                pending[key] = _State(ts, ts, _Levels(book[2], book[3]), None, kind)
            else:
                kind = DELTA
                blob, levels = delta
                pending[key] = _State(ts, snapshot_ts, levels, base, kind)
            recv_delta_ms = round((book[5] - ts) * 1000)
            out[(key, ts)] = (symbols[key[1]], exchanges[key[0]], ts, kind, recv_delta_ms, blob)
        encoded = Encoded([], [])
        for (key, ts), row in out.items():
            state = states.get(key)
            before = state.ts if state is not None else last_stored.get(key, (None,))[0]
            (encoded.replacing if ts == before else encoded.rows).append(row)
        return encoded

    def commit(self) -> None:
        """The rows of the last `rows` call are stored: move on from them."""
        self._states.update(self._pending)
        self._pending = {}

    def rollback(self) -> None:
        self._pending = {}


def _delta(base: _Levels, book: Book) -> tuple[bytes, _Levels] | None:
    """`book` as changes against `base`, and the stored book it makes; None if a delta
    would not rebuild it exactly."""
    bids = _changes(base.bids, base.bid_sets, book[2], descending=True)
    asks = _changes(base.asks, base.ask_sets, book[3], descending=False)
    if bids is None or asks is None:
        return None
    blob = pack(bids[0], asks[0], anchors(base.bids, base.asks))
    return blob, _Levels(book[2], book[3], bids[1], asks[1])


def _changes(
    old: Side, old_sets: Sets | None, new: Side, *, descending: bool
) -> tuple[list[Level], Sets | None] | None:
    """new's levels that differ from old (new amount) or left it (amount 0), best first,
    and new's sets; None unless new's prices are finite and strictly ordered best first and
    no changed level has amount 0 (applied and sorted, the changes must give back `new`)."""
    if new == old:
        return [], old_sets
    prices = [level[0] for level in new]
    price_set = set(prices)
    if (
        len(price_set) != len(prices)
        or prices != sorted(prices, reverse=descending)
        or not math.isfinite(sum(prices))
    ):
        return None
    level_set = set(new)
    old_levels, old_prices = old_sets or (set(old), {level[0] for level in old})
    changed = level_set - old_levels
    if any(amount == 0 for _, amount in changed):
        return None
    gone = old_prices - price_set
    if gone:
        changed.update([(price, 0.0) for price in gone])
    return sorted(changed, reverse=descending), (level_set, price_set)
