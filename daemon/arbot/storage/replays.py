"""The `replays` table of arbot.db: which files were replayed into it (by content)."""

from __future__ import annotations

import sqlite3

from arbot.storage.transaction import immediate


def replayed_at(conn: sqlite3.Connection, sha256: str) -> str | None:
    """When data with this content hash was replayed here, or None."""
    row = conn.execute("SELECT replayed_at FROM replays WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else str(row[0])


def record_replay(
    conn: sqlite3.Connection, sha256: str, file: str, *, at: str, ticks: int, signals: int
) -> None:
    with immediate(conn):
        conn.execute(
            "INSERT INTO replays (sha256, file, replayed_at, ticks, signals) "
            "VALUES (?, ?, ?, ?, ?)",
            (sha256, file, at, ticks, signals),
        )
