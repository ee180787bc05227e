"""The engine's records as PostgreSQL statements (storage/sqlite/records_sql.py's twin), and what
a run leaves for the next one. Times are written from the records (never now()), so a
replay reproduces the same rows, as on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from arbot.models import Episode, FeedGap
from arbot.records import (
    ID_TABLES,
    BalanceSnapshot,
    EpisodesOpen,
    IdTable,
    OpenEpisodeState,
    Record,
    Resume,
    SignalExecuted,
    SignalFound,
    TradeOpened,
    TradeSettled,
)
from arbot.settings import ShardSettings
from arbot.storage.rows import (
    book_trade_row,
    episode_row,
    execution_row,
    open_episode_row,
    signal_row,
    trade_row,
)

Conn = psycopg.Connection[Any]
# Each shard's engine allocates ids in its own range, so daemons sharing a database never
# collide; ids below the first range are left to the identity sequences (other clients).
ID_RANGE_BITS = 48

_INSERT_SIGNAL = """INSERT INTO arbitrage_signals (id, symbol, buy_exchange, sell_exchange,
    buy_price, sell_price, profit, profit_percent, buy_size, sell_size, confidence,
    trend_direction, timestamp, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"""
_INSERT_BOOK_TRADE = """INSERT INTO signal_book_trades (signal_id, quantity, buy_vwap,
    sell_vwap, size_edges) VALUES (%s, %s, %s, %s, %s)"""
_INSERT_EPISODE = """INSERT INTO signal_episodes (episode_key, symbol, buy_exchange,
    sell_exchange, opened_at, closed_at, peak_profit_percent, updates, signals, close_reason,
    created_at, peak_profit) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (episode_key) DO NOTHING"""
_INSERT_TRADE = """INSERT INTO trades (id, signal_id, symbol, buy_exchange, sell_exchange,
    planned_buy_price, planned_sell_price, quantity, planned_profit, status, started_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending',
            coalesce(%s::timestamp, CURRENT_TIMESTAMP AT TIME ZONE 'UTC'))"""
_UPDATE_TRADE = """UPDATE trades SET buy_order_id = %s, sell_order_id = %s,
    actual_buy_price = %s, actual_sell_price = %s, actual_profit = %s, fees_paid = %s,
    slippage = %s, status = %s, error_message = %s, quantity = coalesce(%s, quantity),
    completed_at = coalesce(%s::timestamp, CURRENT_TIMESTAMP AT TIME ZONE 'UTC')
    WHERE id = %s"""
_INSERT_BALANCE = """INSERT INTO balances (exchange, asset, free_balance, locked_balance,
    timestamp, shard) VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (shard, exchange, asset, timestamp) DO UPDATE SET
    free_balance = EXCLUDED.free_balance, locked_balance = EXCLUDED.locked_balance"""
_OPEN_COLUMNS = (
    "episode_key, symbol, buy_exchange, buy_symbol, sell_exchange, sell_symbol, opened_at, "
    "peak_profit_percent, updates, signals, last_signal_percent, last_signal_at, peak_profit"
)


def _signal(conn: Conn, r: SignalFound) -> None:
    conn.execute(_INSERT_SIGNAL, signal_row(r.id, r.signal))
    book_trade = book_trade_row(r.id, r.signal)
    if book_trade is not None:
        conn.execute(_INSERT_BOOK_TRADE, book_trade)


def _episode(conn: Conn, e: Episode) -> None:
    conn.execute(_INSERT_EPISODE, episode_row(e))


def _trade_opened(conn: Conn, r: TradeOpened) -> None:
    conn.execute(_INSERT_TRADE, trade_row(r.id, r.params))


def _trade_settled(conn: Conn, r: TradeSettled) -> None:
    cur = conn.execute(_UPDATE_TRADE, execution_row(r.id, r.data))
    if cur.rowcount != 1:
        raise LookupError(f"trades: no row with id {r.id} to update")


def _signal_executed(conn: Conn, r: SignalExecuted) -> None:
    cur = conn.execute("UPDATE arbitrage_signals SET executed = TRUE WHERE id = %s", (r.signal_id,))
    if cur.rowcount != 1:
        raise LookupError(f"arbitrage_signals: no row with id {r.signal_id}")


def _gap(conn: Conn, g: FeedGap) -> None:
    # "end" is clamped to start: clock skew must not violate the CHECK (as gaps.py).
    conn.execute(
        'INSERT INTO feed_gaps (exchange, start, "end", reason) VALUES (%s, %s, %s, %s)',
        (g.exchange, g.start, max(g.end, g.start), g.reason),
    )


class RecordWriter:
    """Writes records for one shard (its open episodes and paper balances are its own)."""

    def __init__(self, shard: ShardSettings) -> None:
        self.shard = shard
        self._writers: dict[type[Any], Callable[[Conn, Any], None]] = {
            SignalFound: _signal,
            Episode: _episode,
            TradeOpened: _trade_opened,
            TradeSettled: _trade_settled,
            SignalExecuted: _signal_executed,
            BalanceSnapshot: self._balances,
            FeedGap: _gap,
            EpisodesOpen: self._episodes_open,
        }

    def write(self, conn: Conn, record: Record) -> None:
        self._writers[type(record)](conn, record)

    def _episodes_open(self, conn: Conn, r: EpisodesOpen) -> None:
        conn.execute("DELETE FROM open_episodes WHERE shard = %s", (self.shard.index,))
        conn.cursor().executemany(
            f"INSERT INTO open_episodes ({_OPEN_COLUMNS}, shard) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(*open_episode_row(st), self.shard.index) for st in r.episodes],
        )

    def _balances(self, conn: Conn, r: BalanceSnapshot) -> None:
        shard = self.shard.index
        conn.cursor().executemany(
            _INSERT_BALANCE,
            [(b.exchange, b.asset, b.free, b.locked, r.at, shard) for b in r.rows],
        )

    def id_range(self) -> tuple[int, int]:
        """[first, end) of this shard's ids."""
        first = (self.shard.index + 1) << ID_RANGE_BITS
        return first, first + (1 << ID_RANGE_BITS)

    def next_free_id(self, conn: Conn, table: IdTable) -> int:
        first, end = self.id_range()
        sql = {
            "arbitrage_signals": "SELECT max(id) FROM arbitrage_signals WHERE id >= %s AND id < %s",
            "trades": "SELECT max(id) FROM trades WHERE id >= %s AND id < %s",
        }[table]
        row = conn.execute(sql, (first, end)).fetchone()
        return first if row is None or row[0] is None else int(row[0]) + 1

    def resume_state(self, conn: Conn) -> Resume:
        rows = conn.execute(
            f"SELECT {_OPEN_COLUMNS} FROM open_episodes WHERE shard = %s ORDER BY opened_at",
            (self.shard.index,),
        ).fetchall()
        return Resume(
            first_ids={table: self.next_free_id(conn, table) for table in ID_TABLES},
            balances=latest_balances(conn, self.shard.index),
            episodes=tuple(OpenEpisodeState(*r) for r in rows),
        )


def latest_balances(conn: Conn, shard: int) -> dict[str, dict[str, float]]:
    """The paper account of `shard`: its latest snapshot per exchange and asset."""
    rows = conn.execute(
        """SELECT DISTINCT ON (exchange, asset) exchange, asset, total_balance FROM balances
           WHERE shard = %s ORDER BY exchange, asset, timestamp DESC""",
        (shard,),
    ).fetchall()
    out: dict[str, dict[str, float]] = {}
    for exchange, asset, total in rows:
        out.setdefault(exchange, {})[asset] = float(total)
    return out
