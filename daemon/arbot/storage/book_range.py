"""Stored order books of a time range, for `backtest --from-db` (both backends): each key
is rebuilt from its last snapshot at or before the range's start, and handed on from its
first change in the range (as a range's ticks are: what a venue quoted before is not)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from arbot.models import Book
from arbot.storage.books import DELTA, RESYNC, Side, apply
from arbot.storage.portable import Conn, execute

Key = tuple[str, str]  # (exchange, symbol)
BookRow = tuple[str, str, float, int, bytes]  # exchange, symbol, ts, kind, levels

# Each stored key's last snapshot at or before a time (NULL: none), by name. The backward
# primary-key search stops at the first snapshot, at most SNAPSHOT_SECONDS of rows back.
_BEGINS = """SELECT e.name, s.name, s.id, e.id, (SELECT b.ts FROM books AS b
    WHERE b.symbol_id = s.id AND b.exchange_id = e.id AND b.ts <= ? AND b.kind > 0
    ORDER BY b.ts DESC LIMIT 1)
FROM symbols AS s CROSS JOIN exchanges AS e"""


def snapshot_begins(conn: Conn, start: float) -> dict[Key, tuple[int, int, float | None]]:
    """(exchange, symbol) -> (symbol id, exchange id, time of its last snapshot at or
    before `start`, None if it has none), for every pair of names stored."""
    rows = execute(conn, _BEGINS, (start,)).fetchall()
    return {(e, s): (sid, eid, ts) for e, s, sid, eid, ts in rows}


def books_in_time_order(
    rows: Iterable[BookRow], begins: Mapping[Key, float], start: float
) -> Iterator[Book]:
    """The books of `rows` (every key's, in (ts, exchange, symbol) order, from each key's
    `begins` time or earlier) stamped `start` or later, received at their timestamp (a
    backtest runs on the data's clock). Earlier rows only build the books their deltas
    change. A key's first book handed on is marked resync: the whole book, as a feed's
    first. A delta with no snapshot before it is skipped: what it changes is not stored
    (the rows before were pruned)."""
    books: dict[Key, tuple[Side, Side]] = {}
    handed: set[Key] = set()
    for exchange, symbol, ts, kind, blob in rows:
        key = (exchange, symbol)
        if ts < begins.get(key, start) or (kind == DELTA and key not in books):
            continue
        bids, asks = books.get(key, ((), ()))
        bids, asks = apply(bids, asks, kind, bytes(blob))
        books[key] = (bids, asks)
        if ts >= start:
            first = key not in handed
            handed.add(key)
            yield Book(exchange, symbol, bids, asks, ts, ts, kind == RESYNC or first)
