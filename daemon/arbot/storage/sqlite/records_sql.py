"""The engine's records as SQL on arbot.db: one function per record type, one dispatch.

Used by the writer (inside each batch's transaction) and by backtests (on their in-memory
arbot.db), so every driver stores a record the same way. `resume_state` reads back what a
run leaves for the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from arbot.models import Episode, FeedGap
from arbot.records import (
    ID_TABLES,
    BalanceSnapshot,
    EpisodesOpen,
    OpenEpisodeState,
    Record,
    Resume,
    SignalExecuted,
    SignalFound,
    TradeOpened,
    TradeSettled,
)
from arbot.storage.gaps import insert_gap
from arbot.storage.rows import open_episode_row
from arbot.storage.sqlite import signals, trades
from arbot.storage.sqlite.ids import next_free_id

_OPEN_COLUMNS = (
    "episode_key, symbol, buy_exchange, buy_symbol, sell_exchange, sell_symbol, opened_at, "
    "peak_profit_percent, updates, signals, last_signal_percent, last_signal_at, peak_profit"
)


def _episodes_open(conn: sqlite3.Connection, r: EpisodesOpen) -> None:
    conn.execute("DELETE FROM open_episodes")
    conn.executemany(
        f"INSERT INTO open_episodes ({_OPEN_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [open_episode_row(st) for st in r.episodes],
    )


_WRITERS: dict[type[Any], Callable[[sqlite3.Connection, Any], None]] = {
    SignalFound: lambda c, r: signals.insert_signal(c, r.id, r.signal),
    Episode: signals.insert_episode,
    TradeOpened: lambda c, r: trades.create_trade(c, r.id, r.params),
    TradeSettled: lambda c, r: trades.update_trade_execution(c, r.id, r.data),
    SignalExecuted: lambda c, r: signals.mark_signal_executed(c, r.signal_id),
    BalanceSnapshot: lambda c, r: trades.insert_balance_snapshot(c, r.rows, r.at),
    FeedGap: insert_gap,
    EpisodesOpen: _episodes_open,
}


def write_record(conn: sqlite3.Connection, record: Record) -> None:
    _WRITERS[type(record)](conn, record)


def write_records(conn: sqlite3.Connection, records: Iterable[Record]) -> None:
    for record in records:
        _WRITERS[type(record)](conn, record)


def resume_state(conn: sqlite3.Connection) -> Resume:
    """First free ids, the last balance snapshot and the open episodes left in arbot.db."""
    rows = conn.execute(f"SELECT {_OPEN_COLUMNS} FROM open_episodes ORDER BY opened_at").fetchall()
    episodes = tuple(OpenEpisodeState(*r) for r in rows)
    return Resume(
        first_ids={table: next_free_id(conn, table) for table in ID_TABLES},
        balances=trades.latest_balances(conn),
        episodes=episodes,
    )
