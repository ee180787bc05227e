"""The `replays` table (arbot.db, or PostgreSQL's): which quotes were replayed into the
database, by content (recorded.QuoteFile.content, kept in the column named sha256); and
whether a file's quotes would land on ticks already stored."""

from __future__ import annotations

from collections.abc import Mapping

from arbot.storage.portable import Conn, execute


def replayed_at(conn: Conn, content: str) -> str | None:
    """When data with this content hash was replayed here, or None."""
    row = execute(conn, "SELECT replayed_at FROM replays WHERE sha256 = ?", (content,)).fetchone()
    return None if row is None else str(row[0])


def stored_overlap(
    conn: Conn, spans: Mapping[tuple[str, str], tuple[float, float]]
) -> tuple[str, str, float, float] | None:
    """The first (exchange, symbol, first, last) span of `spans` that already has a stored
    tick in it, or None. One key range scan of ticks (symbol_id, ts) per pair."""
    for (exchange, symbol), (first, last) in sorted(spans.items()):
        row = execute(
            conn,
            "SELECT 1 FROM tickers WHERE symbol = ? AND exchange = ?"
            " AND timestamp BETWEEN ? AND ? LIMIT 1",
            (symbol, exchange, first, last),
        ).fetchone()
        if row is not None:
            return exchange, symbol, first, last
    return None


def record_replay(
    conn: Conn, content: str, file: str, *, at: str, ticks: int, signals: int
) -> None:
    # One statement: atomic on its own on either backend's autocommit connection.
    execute(
        conn,
        "INSERT INTO replays (sha256, file, replayed_at, ticks, signals) VALUES (?, ?, ?, ?, ?)",
        (content, file, at, ticks, signals),
    )
