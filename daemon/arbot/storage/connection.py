"""Opening database files: refuse foreign, corrupt or newer files untouched; set pragmas."""

from __future__ import annotations

import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

from arbot.errors import DatabaseError
from arbot.settings import StorageSettings
from arbot.storage import functions

SQLITE_HEADER = b"SQLite format 3\x00"
# PRAGMA application_id of our files ('ARBT'): tells our databases from other SQLite files.
APPLICATION_ID = 0x41524254
DATABASES = ("arbot", "historical", "config", "backtest")
# Files up to this size get a full quick_check at open; larger ones only the cheap checks.
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Pragmas:
    cache_size_kib: int = 65_536
    busy_timeout_ms: int = 5000
    wal_autocheckpoint_pages: int = 10_000

    @classmethod
    def of(cls, s: StorageSettings) -> Pragmas:
        return cls(s.cache_size_kib, s.busy_timeout_ms, s.wal_autocheckpoint_pages)


def db_path(data_dir: Path, name: str) -> Path:
    return data_dir / f"{name}.db"


def sqlite_uri(path: Path, mode: str) -> str:
    """A URI for `path`: as_uri() percent-encodes '?', '#' and '%', which SQLite would
    otherwise read as the end of the file name."""
    return f"{path.resolve().as_uri()}?mode={mode}"


def check_file(path: Path, max_version: int | None = None) -> None:
    """Raise DatabaseError if `path` exists but is not a healthy SQLite file of ours, or has a
    schema version above `max_version`. Never writes to the file."""
    if not path.exists() or path.stat().st_size == 0:
        return
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read database file: {exc.strerror}") from None
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise DatabaseError(f"{path}: not an SQLite database (refusing to touch it)")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages = struct.unpack(">I", header[28:32])[0]
    if pages and size < pages * page_size:
        raise DatabaseError(
            f"{path}: database file is truncated ({size} bytes, header says {pages * page_size})"
        )
    sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    created = [p for p in sidecars if not p.exists()]
    try:
        conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
            if size <= QUICK_CHECK_MAX_BYTES:
                result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                if result != "ok":
                    raise DatabaseError(f"{path}: database is corrupt: {result}")
        finally:
            conn.close()
            # A read-only connection cannot remove the -wal/-shm it creates beside a WAL-mode
            # file; remove those we created (none existed, so no other connection uses them).
            # Opening read-write instead would checkpoint into a file we may refuse.
            for p in created:
                p.unlink(missing_ok=True)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: database is corrupt or unreadable: {exc}") from None
    if app_id != APPLICATION_ID and (app_id != 0 or tables):
        raise DatabaseError(f"{path}: an SQLite database of another application (refusing it)")
    if max_version is not None and version > max_version:
        raise DatabaseError(
            f"{path}: schema version {version} is newer than this arbot supports "
            f"({max_version}); upgrade arbot or restore an older backup"
        )


def apply_pragmas(conn: sqlite3.Connection, pragmas: Pragmas) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(pragmas.busy_timeout_ms)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise DatabaseError(f"cannot switch database to WAL mode (got {mode})")
    # NORMAL in WAL: a power loss may lose the last transactions but never corrupts the file.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA cache_size = -{int(pragmas.cache_size_kib)}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {int(pragmas.wal_autocheckpoint_pages)}")


def connect(
    path: Path, pragmas: Pragmas | None = None, *, readonly: bool = False
) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) with the project's pragmas."""
    try:
        if readonly:
            conn = sqlite3.connect(
                sqlite_uri(path, "ro"), uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        apply_pragmas(conn, pragmas or Pragmas()) if not readonly else _reader_pragmas(
            conn, pragmas or Pragmas()
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path}: cannot open database: {exc}") from None
    functions.register(conn)
    return conn


def _reader_pragmas(conn: sqlite3.Connection, pragmas: Pragmas) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(pragmas.busy_timeout_ms)}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA cache_size = -{int(pragmas.cache_size_kib)}")


def require_databases(
    data_dir: Path, *databases: str, given_by: str = "--data-dir / storage.data_dir"
) -> None:
    """The one check (and message) every command reading existing data makes first;
    `given_by` names where the directory came from."""
    if not data_dir.exists():
        raise DatabaseError(
            f"{data_dir}: no such data directory; check {given_by} "
            f"(a new one is made by `arbot db init --data-dir {data_dir}`)"
        )
    if not data_dir.is_dir():
        raise DatabaseError(f"{data_dir}: not a directory; check {given_by}")
    for db in databases:
        path = db_path(data_dir, db)
        if not path.exists():
            raise DatabaseError(
                f"{path}: database does not exist; check {given_by} "
                f"or run `arbot db init --data-dir {data_dir}`"
            )
