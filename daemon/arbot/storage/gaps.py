"""feed_gaps rows: where a feed was disconnected, so readers know data is missing there."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from arbot.models import FeedGap
from arbot.storage import portable


def insert_gap(conn: sqlite3.Connection, gap: FeedGap) -> None:
    """A writer op. `end` is clamped to `start` (clock skew must not violate the CHECK)."""
    conn.execute(
        "INSERT INTO feed_gaps (exchange, start, end, reason) VALUES (?, ?, ?, ?)",
        (gap.exchange, gap.start, max(gap.end, gap.start), gap.reason),
    )


def last_receive_times(
    conn: portable.Conn, exchanges: Mapping[str, Sequence[str]]
) -> dict[str, float | None]:
    """Receive time of each exchange's newest stored tick over its symbols, or None.
    Per (symbol, exchange) the primary key is walked backwards from the symbol's newest
    row, so a feed that is current costs a few rows, not a scan of the table. The same SQL
    runs on both backends."""
    out: dict[str, float | None] = {}
    for exchange, symbols in exchanges.items():
        newest: float | None = None
        for symbol in symbols:
            row = portable.execute(
                conn,
                """SELECT t.ts + coalesce(t.recv_delta_ms, 0) / 1000.0 FROM ticks AS t
                   WHERE t.symbol_id = (SELECT id FROM symbols WHERE name = ?)
                     AND t.exchange_id = (SELECT id FROM exchanges WHERE name = ?)
                   ORDER BY t.ts DESC LIMIT 1""",
                (symbol, exchange),
            ).fetchone()
            if row is not None and (newest is None or row[0] > newest):
                newest = row[0]
        out[exchange] = newest
    return out
