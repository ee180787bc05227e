"""Trading records in arbot.db: paper trades and balance snapshots.

Sync functions take a sqlite3 connection first: records_sql.py calls them for the engine's
records, in the daemon's writer or on a backtest's in-memory database. Ids come with the
records (the engine allocates them), so a trade's id is known before its row is committed.
Times are written explicitly from the simulated clock, never CURRENT_TIMESTAMP, so replays
reproduce the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import aiosqlite

from arbot.models import BalanceRow, ExecutionData, TradeParams
from arbot.storage.rows import execution_row, trade_row

_INSERT = """INSERT INTO trades (id, signal_id, symbol, buy_exchange, sell_exchange,
    planned_buy_price, planned_sell_price, quantity, planned_profit, status, started_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', coalesce(?, CURRENT_TIMESTAMP))"""

_UPDATE = """UPDATE trades SET buy_order_id = ?, sell_order_id = ?, actual_buy_price = ?,
    actual_sell_price = ?, actual_profit = ?, fees_paid = ?, slippage = ?, status = ?,
    error_message = ?, quantity = coalesce(?, quantity),
    completed_at = coalesce(?, CURRENT_TIMESTAMP)
    WHERE id = ?"""


def create_trade(conn: sqlite3.Connection, trade_id: int, params: TradeParams) -> None:
    conn.execute(_INSERT, trade_row(trade_id, params))


def update_trade_execution(conn: sqlite3.Connection, trade_id: int, data: ExecutionData) -> None:
    cur = conn.execute(_UPDATE, execution_row(trade_id, data))
    if cur.rowcount != 1:
        raise LookupError(f"trades: no row with id {trade_id} to update")


def insert_balance_snapshot(
    conn: sqlite3.Connection, rows: Iterable[BalanceRow], timestamp: float
) -> None:
    """One row per (exchange, asset); a second snapshot at the same instant replaces it."""
    conn.executemany(
        """INSERT INTO balances (exchange, asset, free_balance, locked_balance, timestamp)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(exchange, asset, timestamp) DO UPDATE SET
               free_balance = excluded.free_balance, locked_balance = excluded.locked_balance""",
        [(r.exchange, r.asset, r.free, r.locked, timestamp) for r in rows],
    )


def latest_balances(conn: sqlite3.Connection) -> dict[str, dict[str, float]]:
    """The last snapshot's total per exchange and asset (to resume paper trading)."""
    rows = conn.execute(
        """SELECT b.exchange, b.asset, b.total_balance FROM balances AS b
           JOIN (SELECT exchange, asset, max(timestamp) AS ts FROM balances
                 GROUP BY exchange, asset) AS last
             ON last.exchange = b.exchange AND last.asset = b.asset AND last.ts = b.timestamp
           ORDER BY b.exchange, b.asset"""
    ).fetchall()
    out: dict[str, dict[str, float]] = {}
    for exchange, asset, total in rows:
        out.setdefault(exchange, {})[asset] = float(total)
    return out


class TradeManager:
    """The spec's async TradeManager over aiosqlite, for tools outside the daemon (the
    daemon itself writes through the Writer with the sync ops above)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    async def create_trade(self, params: TradeParams) -> int:
        async with aiosqlite.connect(self.db_path) as conn:
            cur = await conn.execute(_INSERT, trade_row(None, params))
            await conn.commit()
            if cur.lastrowid is None:
                raise LookupError(f"{self.db_path}: trade insert returned no id")
            return cur.lastrowid

    async def update_trade_execution(self, trade_id: int, data: ExecutionData) -> None:
        async with aiosqlite.connect(self.db_path) as conn:
            cur = await conn.execute(_UPDATE, execution_row(trade_id, data))
            await conn.commit()
            if cur.rowcount != 1:
                raise LookupError(f"{self.db_path}: trades has no row with id {trade_id}")
