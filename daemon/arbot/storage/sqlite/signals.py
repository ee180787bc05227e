"""Arbitrage signals and episodes in arbot.db.

Sync functions take a sqlite3 connection first: records_sql.py calls them for the engine's
records, inside the writer's batch transaction (ids come with the records). created_at is
written from the signal's own time
(never CURRENT_TIMESTAMP), so a replay reproduces the same rows. SignalManager is the
spec's async API over aiosqlite for tools outside the daemon.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from arbot.models import Episode, Signal
from arbot.storage.rows import book_trade_row, episode_row, signal_row

_INSERT_SIGNAL = """INSERT INTO arbitrage_signals (id, symbol, buy_exchange, sell_exchange,
    buy_price, sell_price, profit, profit_percent, buy_size, sell_size, confidence,
    trend_direction, timestamp, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

_INSERT_BOOK_TRADE = """INSERT INTO signal_book_trades (signal_id, quantity, buy_vwap,
    sell_vwap, size_edges) VALUES (?, ?, ?, ?, ?)"""

# A key seen again is the same episode (a file replayed twice): keep the first row.
_INSERT_EPISODE = """INSERT INTO signal_episodes (episode_key, symbol, buy_exchange,
    sell_exchange, opened_at, closed_at, peak_profit_percent, updates, signals, close_reason,
    created_at, peak_profit)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(episode_key) DO NOTHING"""

_MARK_EXECUTED = "UPDATE arbitrage_signals SET executed = TRUE WHERE id = ?"

STATISTICS = """SELECT count(*), count(CASE WHEN executed THEN 1 END), avg(profit_percent),
    max(profit_percent), avg(confidence)
    FROM arbitrage_signals WHERE timestamp > ?"""


def insert_signal(conn: sqlite3.Connection, signal_id: int, signal: Signal) -> None:
    conn.execute(_INSERT_SIGNAL, signal_row(signal_id, signal))
    book_trade = book_trade_row(signal_id, signal)
    if book_trade is not None:
        conn.execute(_INSERT_BOOK_TRADE, book_trade)


def insert_episode(conn: sqlite3.Connection, episode: Episode) -> None:
    conn.execute(_INSERT_EPISODE, episode_row(episode))


def mark_signal_executed(conn: sqlite3.Connection, signal_id: int) -> None:
    if conn.execute(_MARK_EXECUTED, (signal_id,)).rowcount != 1:
        raise LookupError(f"arbitrage_signals: no row with id {signal_id}")


def _statistics(row: tuple[Any, ...]) -> dict[str, Any]:
    total, executed, avg_pct, max_pct, avg_conf = row
    return {
        "total_signals": total,
        "executed_signals": executed,
        "execution_rate": executed / total if total else 0,
        "avg_profit_percent": avg_pct,
        "max_profit_percent": max_pct,
        "avg_confidence": avg_conf,
    }


def signal_statistics(conn: sqlite3.Connection, period_hours: float, now: float) -> dict[str, Any]:
    """The spec's get_signal_statistics over signals newer than `period_hours` before `now`."""
    return _statistics(conn.execute(STATISTICS, (now - period_hours * 3600,)).fetchone())


class SignalManager:
    """The spec's async SignalManager over aiosqlite, for tools outside the daemon (the
    daemon writes through the Writer with the sync ops above). One connection per call."""

    def __init__(self, db_path: Path, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self._clock = clock

    async def save_signal(self, signal: Signal) -> int:
        async with aiosqlite.connect(self.db_path) as conn:
            cur = await conn.execute(_INSERT_SIGNAL, signal_row(None, signal))
            if cur.lastrowid is None:
                raise LookupError(f"{self.db_path}: signal insert returned no id")
            book_trade = book_trade_row(cur.lastrowid, signal)
            if book_trade is not None:
                await conn.execute(_INSERT_BOOK_TRADE, book_trade)
            await conn.commit()
            return cur.lastrowid

    async def mark_signal_executed(self, signal_id: int) -> None:
        async with aiosqlite.connect(self.db_path) as conn:
            cur = await conn.execute(_MARK_EXECUTED, (signal_id,))
            await conn.commit()
            if cur.rowcount != 1:
                raise LookupError(
                    f"{self.db_path}: arbitrage_signals has no row with id {signal_id}"
                )

    async def get_signal_statistics(self, period_hours: float = 24) -> dict[str, Any]:
        async with aiosqlite.connect(self.db_path) as conn:
            cur = await conn.execute(STATISTICS, (self._clock() - period_hours * 3600,))
            row = await cur.fetchone()
        assert row is not None  # an aggregate without GROUP BY always returns one row
        return _statistics(tuple(row))
