"""Numbered migrations per database file, tracked with PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from arbot.errors import DatabaseError
from arbot.storage.connection import (
    APPLICATION_ID,
    DATABASES,
    Pragmas,
    check_file,
    connect,
    db_path,
)


def migrations(db: str) -> list[str]:
    """The SQL scripts of `db` in order; script N brings the file to user_version N."""
    folder = resources.files("arbot.storage") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith(f"{db}_"))
    return [(folder / name).read_text(encoding="utf-8") for name in names]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, db: str, path: Path, scripts: list[str] | None = None) -> int:
    """Apply pending migrations, each in one transaction (a failing one is rolled back).
    Returns the resulting version; refuses a file newer than this program."""
    scripts = migrations(db) if scripts is None else scripts
    current = schema_version(conn)
    if current > len(scripts):
        raise DatabaseError(
            f"{path}: schema version {current} is newer than this arbot supports "
            f"({len(scripts)}); upgrade arbot or restore an older backup"
        )
    for version, script in enumerate(scripts[current:], start=current + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise DatabaseError(f"{path}: migration {db} #{version} failed: {exc}") from None
    return len(scripts)


def _statements(script: str) -> list[str]:
    """Split a script into complete statements (triggers contain inner semicolons)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement at end of migration: {buf[:60]!r}")
    return out


def open_database(
    data_dir: Path, db: str, pragmas: Pragmas | None = None, *, readonly: bool = False
) -> sqlite3.Connection:
    """Check, open and migrate one of the four files (read-only opens do not migrate)."""
    path = db_path(data_dir, db)
    check_file(path, max_version=len(migrations(db)))
    if readonly:
        if not path.exists():
            raise DatabaseError(f"{path}: database does not exist; run `arbot db init` first")
        conn = connect(path, pragmas, readonly=True)
        expected, found = len(migrations(db)), schema_version(conn)
        if found != expected:
            conn.close()
            raise DatabaseError(
                f"{path}: schema version {found} differs from {expected}; run `arbot db init`"
            )
        return conn
    conn = connect(path, pragmas)
    try:
        migrate(conn, db, path)
    except BaseException:
        conn.close()
        raise
    return conn


def make_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"{data_dir}: cannot create data directory: {exc.strerror}") from None


def init_all(data_dir: Path, pragmas: Pragmas | None = None) -> dict[str, int]:
    """Create or migrate all four files; idempotent. Checks every file before touching any."""
    make_data_dir(data_dir)
    for db in DATABASES:
        check_file(db_path(data_dir, db), max_version=len(migrations(db)))
    versions: dict[str, int] = {}
    for db in DATABASES:
        conn = open_database(data_dir, db, pragmas)
        versions[db] = schema_version(conn)
        conn.close()
    return versions
