"""Statements both backends run as written: SQL in SQLite's `?` style, executed on an
sqlite3 connection or, with `%s` placeholders, on a psycopg one (both autocommit). For
small tables whose SQL is the same on both (replays, backtest runs); the hot paths and what
differs have a module per backend. The statements hold no `?` or `%` of their own.

How a connection runs them is its backend's `Dialect`, registered once for the connection
class its driver opens (PostgreSQL's by `storage/pg/connect.py`, which opens every psycopg
connection), so nothing here tests which backend a connection belongs to."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arbot.storage.transaction import immediate

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is used
    import psycopg

    Conn = sqlite3.Connection | psycopg.Connection[Any]
else:
    Conn = Any


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one backend's driver runs these statements: what stands for `?`, and one
    transaction (committed at the end of the block, rolled back on any exception)."""

    placeholder: str
    transaction: Callable[[Any], AbstractContextManager[object]]


# The statements are written in SQLite's style, so its dialect is the one known here.
_DIALECTS: dict[type[object], Dialect] = {sqlite3.Connection: Dialect("?", immediate)}


def register(connection: type[object], dialect: Dialect) -> None:
    """Run the statements on connections of this class in `dialect`."""
    _DIALECTS[connection] = dialect


def _dialect(conn: Conn) -> Dialect:
    try:
        return _DIALECTS[type(conn)]
    except KeyError:
        raise TypeError(f"no SQL dialect registered for {type(conn).__qualname__}") from None


def _sql(conn: Conn, sql: str) -> str:
    return sql.replace("?", _dialect(conn).placeholder)


def execute(conn: Conn, sql: str, params: Sequence[object] = ()) -> Any:
    """The cursor of `sql` run with `params` (fetchone/fetchall/description work alike)."""
    return conn.execute(_sql(conn, sql), params)


def executemany(conn: Conn, sql: str, rows: Iterable[Sequence[object]]) -> None:
    conn.cursor().executemany(_sql(conn, sql), rows)


@contextlib.contextmanager
def transaction(conn: Conn) -> Iterator[None]:
    """One transaction: committed at the end of the block, rolled back on any exception."""
    with _dialect(conn).transaction(conn):
        yield
