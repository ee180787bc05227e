"""config.db `settings`: runtime overrides of the TOML, one row per key path. `category` is
the section (`detector`, `exchanges.binance`), `key` the rest of the path, `value` JSON."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from arbot.storage.transaction import immediate


@dataclass(frozen=True, slots=True)
class StoredOverride:
    path: str
    value: Any
    data_type: str
    updated_at: str


def _join(category: str, key: str) -> str:
    return f"{category}.{key}"


def read_all(conn: sqlite3.Connection) -> list[StoredOverride]:
    """Every override, oldest first (the order they are applied in)."""
    rows = conn.execute(
        "SELECT category, key, value, data_type, updated_at FROM settings ORDER BY updated_at, id"
    ).fetchall()
    return [StoredOverride(_join(c, k), json.loads(v), t, str(u)) for c, k, v, t, u in rows]


def put(conn: sqlite3.Connection, category: str, key: str, value: Any, data_type: str) -> None:
    with immediate(conn):
        conn.execute(
            """INSERT INTO settings (category, key, value, data_type) VALUES (?, ?, ?, ?)
               ON CONFLICT(category, key) DO UPDATE SET value = excluded.value,
                   data_type = excluded.data_type, updated_at = CURRENT_TIMESTAMP""",
            (category, key, json.dumps(value), data_type),
        )


def delete(conn: sqlite3.Connection, category: str, key: str) -> bool:
    """Remove one override; False if there was none."""
    with immediate(conn):
        cur = conn.execute("DELETE FROM settings WHERE category = ? AND key = ?", (category, key))
    return cur.rowcount > 0
