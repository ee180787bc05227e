"""Reads of `ticks` by time. There is no ts-led index (arbot_002.sql): a time range is one
primary-key (symbol_id, ts) range search per symbol, a few hundred seeks whatever the
table's size. CROSS JOIN keeps `symbols` the outer loop, so the planner cannot pick a scan
of all of ticks instead."""

from __future__ import annotations

import heapq
import math
import sqlite3
from collections.abc import Iterator

from arbot.models import Tick

_COUNT = """
SELECT count(*) FROM symbols AS s CROSS JOIN ticks AS t ON t.symbol_id = s.id
WHERE t.ts >= ? AND t.ts < ?
"""

# One min() seek per symbol (SQLite's min/max optimisation on the key's second column).
_FIRST = """
SELECT min((SELECT min(t.ts) FROM ticks AS t WHERE t.symbol_id = s.id AND t.ts >= ?))
FROM symbols AS s
"""

# One symbol's quotes in (ts, exchange name) order: the key gives ts order, the small sort
# of each timestamp's exchanges is SQLite's "temp b-tree for right part of order by".
_OF_SYMBOL = """
SELECT e.name, ?, t.bid, t.ask, t.bid_size, t.ask_size, t.ts, t.ts
FROM tick_values AS t CROSS JOIN exchanges AS e ON e.id = t.exchange_id
WHERE t.symbol_id = ? AND t.ts >= ? AND t.ts < ?
ORDER BY t.ts, e.name
"""


def count_ticks(conn: sqlite3.Connection, start: float, end: float = math.inf) -> int:
    """Ticks with start <= ts < end."""
    return int(conn.execute(_COUNT, (start, end)).fetchone()[0])


def first_tick_time(conn: sqlite3.Connection, since: float = -math.inf) -> float | None:
    """The smallest ts >= since, or None."""
    row = conn.execute(_FIRST, (since,)).fetchone()
    return None if row[0] is None else float(row[0])


def ticks_in_time_order(conn: sqlite3.Connection, start: float, end: float) -> Iterator[Tick]:
    """Quotes with start <= ts < end ordered by (timestamp, exchange, symbol), streamed: one
    cursor per symbol, merged. `received` is the timestamp (replays run on the file's clock).
    One global ORDER BY would sort the whole range in temp storage first."""
    symbols = conn.execute("SELECT id, name FROM symbols").fetchall()
    cursors = [conn.execute(_OF_SYMBOL, (name, sid, start, end)) for sid, name in symbols]
    for row in heapq.merge(*cursors, key=lambda r: (r[6], r[0], r[1])):
        yield Tick(*row)
