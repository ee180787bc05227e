"""Restore one database file from a backup, safely: never beside a running daemon, never
from an unverified file, never leaving a half-written target or a stale WAL behind."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path

from arbot.errors import DatabaseError
from arbot.storage.connection import APPLICATION_ID, DATABASES, check_file, db_path
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.schema import make_data_dir, migrations
from arbot.storage.sqlite.backup import (
    BackupError,
    backup_database,
    fsync_path,
    parse_name,
    stamp_of,
)

PRE_RESTORE_DIR = "pre-restore"
# A table only that database has: stops e.g. a historical backup landing on arbot.db.
MARKER_TABLES = {
    "arbot": "ticks",
    "historical": "ohlcv",
    "config": "exchange_config",
    "backtest": "backtest_runs",
}


@dataclass(frozen=True, slots=True)
class RestoreReport:
    db: str
    target: Path
    source: Path
    schema_version: int
    previous: list[Path]  # where the replaced database was kept


def infer_db(source: Path) -> str:
    """The database a backup file belongs to, from its name (default arbot)."""
    parsed = parse_name(source)
    return parsed[0] if parsed and parsed[0] in DATABASES else "arbot"


def _unpack(source: Path, dest: Path) -> None:
    try:
        with source.open("rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise DatabaseError(f"source {source}: cannot read the backup: {exc.strerror}") from None
    try:
        f_out = dest.open("wb")
    except OSError as exc:
        raise DatabaseError(f"destination {dest.parent}: cannot write: {exc.strerror}") from None
    opener = gzip.open if gzipped else open
    with f_out:
        try:
            with opener(source, "rb") as f_in:
                shutil.copyfileobj(f_in, f_out, 1 << 20)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DatabaseError(f"source {source}: damaged gzip file: {exc}") from None
        except OSError as exc:
            side, name = ("destination", dest) if exc.filename is None else ("source", source)
            raise DatabaseError(f"{side} {name}: {exc}") from None
        f_out.flush()
        os.fsync(f_out.fileno())


def verify_restorable(path: Path, db: str, shown: Path) -> int:
    """Check the unpacked file fully; return its schema version. Names `shown` in errors."""
    try:
        check_file(path)
    except DatabaseError as exc:
        raise DatabaseError(str(exc).replace(str(path), str(shown))) from None
    supported = len(migrations(db))
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            result = conn.execute("PRAGMA integrity_check(1)").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            marker = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                (MARKER_TABLES[db],),
            ).fetchone()[0]
            # The file may carry the WAL flag; make it self-contained before it goes live.
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"source {shown}: backup is unreadable: {exc}") from None
    if result != "ok":
        raise DatabaseError(f"source {shown}: backup fails integrity_check: {result}")
    if app_id != APPLICATION_ID:
        raise DatabaseError(f"source {shown}: not an arbot database (application_id {app_id})")
    if not 0 < version <= supported:
        raise DatabaseError(
            f"{shown}: schema version {version} is not restorable by this arbot "
            f"(supports 1..{supported} for {db}.db)"
        )
    if not marker:
        raise DatabaseError(
            f"source {shown}: is not a backup of {db}.db (no table {MARKER_TABLES[db]})"
        )
    return int(version)


def _keep_previous(data_dir: Path, db: str, keep_dir: Path, now: float) -> list[Path]:
    """Save the database about to be replaced: an online verified backup when it is healthy,
    else its raw files (db and WAL) as they are, so nothing is ever lost by a restore."""
    target = db_path(data_dir, db)
    if not target.exists():
        return []
    try:
        return [backup_database(data_dir, db, keep_dir, now).path]
    except (BackupError, sqlite3.Error):
        keep_dir.mkdir(parents=True, exist_ok=True)
        kept = []
        for suffix in ("", "-wal"):
            src = Path(f"{target}{suffix}")
            if src.exists():
                dest = keep_dir / f"{db}_{stamp_of(now)}.damaged.db{suffix}"
                shutil.copy2(src, dest)
                kept.append(dest)
        return kept


def _retire_wal(target: Path) -> None:
    """Fold the target's WAL into it and delete WAL/SHM, so no stale WAL frame can ever be
    applied to the restored file (a WAL is matched to its database by name only)."""
    if target.exists():
        try:
            conn = sqlite3.connect(target, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode = DELETE")
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # a damaged target: its WAL is saved by _keep_previous and goes below
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)


def restore(data_dir: Path, source: Path, db: str, backup_dir: Path, now: float) -> RestoreReport:
    """Replace `<data_dir>/<db>.db` with the backup `source` (gzip or plain)."""
    if db not in DATABASES:
        raise DatabaseError(f"--db {db}: unknown database (one of {', '.join(DATABASES)})")
    if not source.is_file():
        raise DatabaseError(f"source {source}: no such backup file")
    try:
        make_data_dir(data_dir)
    except DatabaseError as exc:
        raise DatabaseError(f"destination {exc}") from None
    with acquire_daemon_lock(data_dir):
        target = db_path(data_dir, db)
        # Same directory as the target, so the final os.replace is an atomic rename.
        tmp = data_dir / f".{db}.db.restore.partial"
        try:
            _unpack(source, tmp)
            version = verify_restorable(tmp, db, source)
            previous = _keep_previous(data_dir, db, backup_dir / PRE_RESTORE_DIR, now)
            _retire_wal(target)
            os.replace(tmp, target)
            fsync_path(data_dir)
        except OSError as exc:
            raise DatabaseError(
                f"destination {target}: restore from {source} failed: {exc}"
            ) from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
                leftover.unlink(missing_ok=True)
    return RestoreReport(db, target, source, version, previous)
