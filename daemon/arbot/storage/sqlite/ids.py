"""Integer ids for the writer: symbol/exchange dimension ids and explicit row ids."""

from __future__ import annotations

import sqlite3
from typing import Literal

from arbot.records import IdTable

Dimension = Literal["symbols", "exchanges"]

_SELECT_ALL = {
    "symbols": "SELECT name, id FROM symbols",
    "exchanges": "SELECT name, id FROM exchanges",
}
_INSERT = {
    "symbols": "INSERT OR IGNORE INTO symbols(name) VALUES (?)",
    "exchanges": "INSERT OR IGNORE INTO exchanges(name) VALUES (?)",
}
_SELECT_ONE = {
    "symbols": "SELECT id FROM symbols WHERE name = ?",
    "exchanges": "SELECT id FROM exchanges WHERE name = ?",
}
_MAX_ID = {
    "arbitrage_signals": "SELECT max(id) FROM arbitrage_signals",
    "trades": "SELECT max(id) FROM trades",
}


class NameIds:
    """name -> id of one dimension table, cached in Python. A name inserted inside a
    transaction is only kept once that transaction commits (`commit`/`rollback`)."""

    def __init__(self, conn: sqlite3.Connection, table: Dimension) -> None:
        self.table: Dimension = table
        self.ids: dict[str, int] = dict(conn.execute(_SELECT_ALL[table]).fetchall())
        self._uncommitted: list[str] = []

    def get_or_insert(self, conn: sqlite3.Connection, name: str) -> int:
        found = self.ids.get(name)
        if found is not None:
            return found
        # OR IGNORE + SELECT: another connection (the `tickers` view trigger) may have added it.
        conn.execute(_INSERT[self.table], (name,))
        new_id = int(conn.execute(_SELECT_ONE[self.table], (name,)).fetchone()[0])
        self.ids[name] = new_id
        self._uncommitted.append(name)
        return new_id

    def commit(self) -> None:
        self._uncommitted.clear()

    def rollback(self) -> None:
        for name in self._uncommitted:
            del self.ids[name]
        self._uncommitted.clear()


def next_free_id(conn: sqlite3.Connection, table: IdTable) -> int:
    """One past the largest id ever used: max(id) and AUTOINCREMENT's sqlite_sequence (ids
    of deleted rows are not reused, as AUTOINCREMENT promises)."""
    max_id = conn.execute(_MAX_ID[table]).fetchone()[0] or 0
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return max(int(max_id), int(row[0]) if row else 0) + 1
