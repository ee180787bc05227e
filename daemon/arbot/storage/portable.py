"""Statements both backends run as written: SQL in SQLite's `?` style, executed on an
sqlite3 connection or, with `%s` placeholders, on a psycopg one (both autocommit). For
small tables whose SQL is the same on both (replays, backtest runs); the hot paths and what
differs have a module per backend. The statements hold no `?` or `%` of their own."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from arbot.storage.transaction import immediate

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is used
    import psycopg

    Conn = sqlite3.Connection | psycopg.Connection[Any]
else:
    Conn = Any


def _sql(conn: Conn, sql: str) -> str:
    return sql if isinstance(conn, sqlite3.Connection) else sql.replace("?", "%s")


def execute(conn: Conn, sql: str, params: Sequence[object] = ()) -> Any:
    """The cursor of `sql` run with `params` (fetchone/fetchall/description work alike)."""
    return conn.execute(_sql(conn, sql), params)


def executemany(conn: Conn, sql: str, rows: Iterable[Sequence[object]]) -> None:
    conn.cursor().executemany(_sql(conn, sql), rows)


@contextlib.contextmanager
def transaction(conn: Conn) -> Iterator[None]:
    """One transaction: committed at the end of the block, rolled back on any exception."""
    if isinstance(conn, sqlite3.Connection):
        with immediate(conn):
            yield
    else:
        with conn.transaction():
            yield
