"""Database health figures and read-only query plans (`arbot db stats`, `arbot db explain`)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from arbot.errors import EXIT_USAGE, ArbotError, DatabaseError
from arbot.storage.connection import DATABASES, check_file, connect, db_path
from arbot.storage.sqlite.ticks import count_ticks

DAY = 86_400


class StatementRefused(ArbotError):
    """`db explain` only plans a single read-only statement; fix the SQL."""

    exit_code = EXIT_USAGE


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def file_sizes(data_dir: Path, db: str) -> tuple[int, int]:
    """(database file bytes, WAL bytes); 0 for a missing file."""
    path = db_path(data_dir, db)
    sizes = []
    for p in (path, Path(f"{path}-wal")):
        try:
            sizes.append(p.stat().st_size)
        except FileNotFoundError:
            sizes.append(0)
    return sizes[0], sizes[1]


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    # `name` is one of this module's constants, never input.
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def ingestion(conn: sqlite3.Connection, now: float, used_bytes: int) -> dict[str, Any]:
    """Tick rates over the last minute and hour (per-symbol key range counts) and the disk growth
    per day they imply, at the file's current bytes per stored tick (an upper bound: the
    file holds the other tables too)."""
    last_minute = count_ticks(conn, now - 60)
    last_hour = count_ticks(conn, now - 3600)
    total = conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
    per_tick = used_bytes / total if total else None
    per_second = last_hour / 3600
    return {
        "ticks_last_minute": last_minute,
        "ticks_last_hour": last_hour,
        "ticks_per_second_minute": last_minute / 60,
        "ticks_per_second_hour": per_second,
        "bytes_per_tick": per_tick,
        "projected_growth_bytes_per_day": per_tick * per_second * DAY if per_tick else None,
    }


def database_stats(data_dir: Path, db: str, now: float) -> dict[str, Any]:
    """Sizes, pages, row counts per table, indexes; for arbot.db also ingestion rates."""
    path = db_path(data_dir, db)
    if not path.exists():
        return {"database": db, "path": str(path), "exists": False}
    check_file(path)
    size, wal = file_sizes(data_dir, db)
    conn = connect(path, readonly=True)
    try:
        page_size = _pragma(conn, "page_size")
        pages = _pragma(conn, "page_count")
        free = _pragma(conn, "freelist_count")
        # Names come from our own schema in sqlite_master, quoted; never from input.
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        rows = {t: conn.execute(f"SELECT count(*) FROM {_quote(t)}").fetchone()[0] for t in tables}
        indexes = [
            {"name": name, "table": table}
            for name, table in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY tbl_name, name"
            )
        ]
        out: dict[str, Any] = {
            "database": db,
            "path": str(path),
            "exists": True,
            "file_bytes": size,
            "wal_bytes": wal,
            "page_size": page_size,
            "page_count": pages,
            "freelist_count": free,
            "freelist_fraction": free / pages if pages else 0.0,
            "schema_version": _pragma(conn, "user_version"),
            "rows": rows,
            "indexes": indexes,
        }
        if "ticks" in rows:
            out["ingestion"] = ingestion(conn, now, (pages - free) * page_size)
        return out
    finally:
        conn.close()


def all_stats(data_dir: Path, now: float) -> list[dict[str, Any]]:
    return [database_stats(data_dir, db, now) for db in DATABASES]


_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)
_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n|/\*.*?\*/)*", re.S)


def _read_only(action: int, *_: object) -> int:
    ok = action in _READ_ACTIONS or action == _RECURSIVE
    return sqlite3.SQLITE_OK if ok else sqlite3.SQLITE_DENY


class _NullParams(dict[str, None]):
    """Binds NULL to every named parameter (plans do not depend on the values bound)."""

    def __missing__(self, key: str) -> None:
        return None


def _plan(conn: sqlite3.Connection, sql: str) -> list[Any]:
    """Run `sql` binding NULL to each parameter (a plan does not depend on the values)."""
    try:
        return conn.execute(sql, _NullParams()).fetchall()
    except sqlite3.ProgrammingError as exc:
        if "has no name" not in str(exc):
            raise
    try:  # positional parameters: learn how many from the statement itself
        return conn.execute(sql).fetchall()
    except sqlite3.ProgrammingError as exc:
        count = re.search(r"uses (\d+)", str(exc))
        if count is None:
            raise
    return conn.execute(sql, [None] * int(count[1])).fetchall()


def check_statement(sql: str) -> str:
    text = sql.strip().rstrip(";").strip()
    if not text or not sqlite3.complete_statement(text + ";"):
        raise StatementRefused("explain: not a complete SQL statement")
    first = _LEADING_COMMENTS.sub("", text, count=1)[:6].upper()
    if not (first.startswith("SELECT") or first.startswith("WITH")):
        raise StatementRefused("explain: only a single SELECT or WITH statement is accepted")
    return text


def explain(data_dir: Path, db: str, sql: str) -> list[dict[str, Any]]:
    """EXPLAIN QUERY PLAN of one read-only statement; anything else is refused.

    Three independent guards: the file is opened read-only (mode=ro), query_only is on,
    and an authorizer denies every action except reading and calling functions, so even a
    `WITH ... DELETE` or a PRAGMA inside the text cannot run."""
    text = check_statement(sql)
    path = db_path(data_dir, db)
    if not path.exists():
        raise DatabaseError(f"{path}: database does not exist; run `arbot db init` first")
    check_file(path)
    conn = connect(path, readonly=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_read_only)
        try:
            rows = _plan(conn, f"EXPLAIN QUERY PLAN {text}")
        except sqlite3.Error as exc:
            if "not authorized" in str(exc):
                raise StatementRefused("explain: the statement is not read-only") from None
            raise StatementRefused(f"explain: {exc}") from None
    finally:
        conn.close()
    return [{"id": r[0], "parent": r[1], "detail": r[3]} for r in rows]


def plan_text(plan: list[dict[str, Any]]) -> str:
    """Indent plan rows under their parents, like the sqlite3 shell does."""
    depth: dict[int, int] = {0: -1}
    lines = []
    for row in plan:
        level = depth.get(row["parent"], -1) + 1
        depth[row["id"]] = level
        lines.append("  " * level + row["detail"])
    return "\n".join(lines)
