"""feed_gaps rows: where a feed was disconnected, so readers know data is missing there."""

from __future__ import annotations

import sqlite3

from arbot.models import FeedGap


def insert_gap(conn: sqlite3.Connection, gap: FeedGap) -> None:
    """A writer op. `end` is clamped to `start` (clock skew must not violate the CHECK)."""
    conn.execute(
        "INSERT INTO feed_gaps (exchange, start, end, reason) VALUES (?, ?, ?, ?)",
        (gap.exchange, gap.start, max(gap.end, gap.start), gap.reason),
    )
