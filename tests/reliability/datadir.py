"""Looking at a data dir from outside the daemon: integrity, stored ticks, gaps, signals,
and fingerprints of files that must stay untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path


def open_ro(db: Path) -> sqlite3.Connection:
    """A read-only connection (a reader beside the daemon's writer, WAL allows it)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def integrity(db: Path) -> str:
    """PRAGMA integrity_check's verdict ('ok' when healthy)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(r[0]) for r in rows)


def tick_counts(db: Path) -> dict[str, int]:
    """Stored ticks per exchange name."""
    conn = open_ro(db)
    try:
        rows = conn.execute(
            "SELECT e.name, count(*) FROM ticks t JOIN exchanges e ON e.id = t.exchange_id"
            " GROUP BY e.name"
        ).fetchall()
    finally:
        conn.close()
    return {str(name): int(n) for name, n in rows}


def scalar(db: Path, sql: str, *params: object) -> object:
    conn = open_ro(db)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = open_ro(db)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    sha256: str
    size: int
    mtime_ns: int


def fingerprint(path: Path) -> Fingerprint:
    data = path.read_bytes()
    return Fingerprint(hashlib.sha256(data).hexdigest(), len(data), path.stat().st_mtime_ns)
