"""One write transaction on an autocommit connection (isolation_level=None)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE (take the write lock now, not at the first write, so a busy database
    fails here under busy_timeout rather than midway); COMMIT at the end of the block; any
    exception, cancellation included, rolls back and propagates."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. an I/O error)
            conn.execute("ROLLBACK")
        raise
