"""Restore replaces a database exactly, refuses unsafe cases and leaves nothing half-done."""

from __future__ import annotations

import fcntl
import gzip
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arbot.errors import DatabaseError
from arbot.storage.connection import db_path
from arbot.storage.lockfile import acquire_daemon_lock, lock_path
from arbot.storage.schema import open_database
from arbot.storage.sqlite.backup import backup_database
from arbot.storage.sqlite.restore import PRE_RESTORE_DIR, infer_db, restore

NOW = 1_700_000_000.0

# Commits rows into a WAL that is never checkpointed, then dies like a killed daemon.
CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    for i in range(50):
        conn.execute("INSERT INTO exchanges(name) VALUES (?)", (f"after-{i}",))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def exchanges(data_dir: Path) -> list[str]:
    conn = open_database(data_dir, "arbot", readonly=True)
    names = [r[0] for r in conn.execute("SELECT name FROM exchanges ORDER BY id")]
    conn.close()
    return names


def add_exchanges(data_dir: Path, *names: str) -> None:
    conn = open_database(data_dir, "arbot")
    conn.executemany("INSERT INTO exchanges(name) VALUES (?)", [(n,) for n in names])
    conn.close()


def no_leftovers(data_dir: Path) -> bool:
    return not [p for p in data_dir.iterdir() if p.name.startswith(".")]


def test_restore_over_a_live_wal_gives_exactly_the_backup(data_dir: Path, tmp_path: Path) -> None:
    """A killed writer left committed frames in arbot.db-wal; after restore none of them is
    visible and the old content (WAL included) is kept under pre-restore/."""
    add_exchanges(data_dir, "a", "b")
    backup = backup_database(data_dir, "arbot", tmp_path / "bk", NOW).path
    target = db_path(data_dir, "arbot")
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(target)], check=False, timeout=60)
    assert Path(f"{target}-wal").stat().st_size > 0

    report = restore(data_dir, backup, "arbot", tmp_path / "bk", NOW + 60)

    assert exchanges(data_dir) == ["a", "b"]
    assert no_leftovers(data_dir)
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    (previous,) = report.previous
    assert previous.parent == tmp_path / "bk" / PRE_RESTORE_DIR
    raw = tmp_path / "previous.db"
    raw.write_bytes(gzip.decompress(previous.read_bytes()))
    conn = sqlite3.connect(raw)
    assert conn.execute("SELECT count(*) FROM exchanges").fetchone()[0] == 52
    conn.close()


def test_restore_refuses_while_the_daemon_lock_is_held(data_dir: Path, tmp_path: Path) -> None:
    """Restore names the lock file and changes nothing while the daemon runs."""
    backup = backup_database(data_dir, "arbot", tmp_path / "bk", NOW).path
    add_exchanges(data_dir, "live")
    with acquire_daemon_lock(data_dir):
        assert daemon_running(data_dir)
        with pytest.raises(DatabaseError, match=r"arbot\.lock.*stop the daemon"):
            restore(data_dir, backup, "arbot", tmp_path / "bk", NOW)
    assert not daemon_running(data_dir)
    assert exchanges(data_dir) == ["live"]


def _doctored_backup(data_dir: Path, tmp_path: Path, sql: str) -> Path:
    path = backup_database(data_dir, "arbot", tmp_path / "bk", NOW, compress=False).path
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.close()
    return path


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("PRAGMA user_version = 99", "schema version 99"),
        ("PRAGMA application_id = 7", "database of another application"),
        ("DROP TABLE ticks", "not a backup of arbot.db"),
    ],
)
def test_restore_refuses_unsuitable_backups(
    data_dir: Path, tmp_path: Path, sql: str, message: str
) -> None:
    """Newer schema, foreign file or another database's backup: refused, target untouched."""
    add_exchanges(data_dir, "keep")
    backup = _doctored_backup(data_dir, tmp_path, sql)
    with pytest.raises(DatabaseError, match=message):
        restore(data_dir, backup, "arbot", tmp_path / "bk", NOW)
    assert exchanges(data_dir) == ["keep"] and no_leftovers(data_dir)


def test_restore_refuses_a_truncated_gzip(data_dir: Path, tmp_path: Path) -> None:
    """A damaged archive is reported by name and leaves no partial file."""
    backup = backup_database(data_dir, "arbot", tmp_path / "bk", NOW).path
    broken = tmp_path / "arbot_20231114_000000.db.gz"
    broken.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    with pytest.raises(DatabaseError, match=str(broken)):
        restore(data_dir, broken, "arbot", tmp_path / "bk", NOW)
    assert no_leftovers(data_dir)
    assert os.path.getsize(db_path(data_dir, "arbot")) > 0


def test_database_name_is_inferred_from_the_backup_name() -> None:
    """`arbot db restore historical_...db.gz` targets historical.db without --db."""
    assert infer_db(Path("historical_20240101_000000.db.gz")) == "historical"
    assert infer_db(Path("my-copy.db")) == "arbot"


def daemon_running(data_dir: Path) -> bool:
    """True while some process holds the daemon lock (never creates the lock file)."""
    try:
        fd = os.open(lock_path(data_dir), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
