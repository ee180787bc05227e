"""The `replays` table (arbot.db, or PostgreSQL's): which files were replayed into the
database, by content."""

from __future__ import annotations

from arbot.storage.portable import Conn, execute


def replayed_at(conn: Conn, sha256: str) -> str | None:
    """When data with this content hash was replayed here, or None."""
    row = execute(conn, "SELECT replayed_at FROM replays WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else str(row[0])


def record_replay(conn: Conn, sha256: str, file: str, *, at: str, ticks: int, signals: int) -> None:
    # One statement: atomic on its own on either backend's autocommit connection.
    execute(
        conn,
        "INSERT INTO replays (sha256, file, replayed_at, ticks, signals) VALUES (?, ?, ?, ?, ?)",
        (sha256, file, at, ticks, signals),
    )
