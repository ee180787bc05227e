"""maintain checks every file; VACUUM runs only above the free-page threshold, after a
verified backup, and never beside a running daemon."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.errors import DatabaseError
from arbot.storage.connection import db_path
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.schema import open_database
from arbot.storage.sqlite.backup import verify_database
from arbot.storage.sqlite.maintenance import maintain

NOW = 1_700_000_000.0


def fragment(data_dir: Path) -> None:
    """Fill arbot.db, then delete most of it: a large freelist."""
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(20_000, NOW - 9000, 9000, seed=4))
    conn.execute("DELETE FROM ticks WHERE ts < ?", (NOW - 1000,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def steps(results: list[dict[str, object]], db: str) -> dict[str, str]:
    return {str(r["step"]): str(r["result"]) for r in results if r["database"] == db}


def test_routine_maintenance_analyzes_and_checks_every_file(data_dir: Path, tmp_path: Path) -> None:
    """Without options: statistics and an integrity check per file, nothing rewritten."""
    results = maintain(data_dir, tmp_path / "bk", NOW, progress=False)
    assert {r["database"] for r in results} == {"arbot", "historical", "config", "backtest"}
    for db in ("arbot", "historical", "config", "backtest"):
        assert steps(results, db)["check"] == "integrity_check: ok"
        assert "vacuum" not in steps(results, db)
    conn = open_database(data_dir, "arbot", readonly=True)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
    conn.close()


def test_vacuum_above_threshold_backs_up_first_and_shrinks(data_dir: Path, tmp_path: Path) -> None:
    """A fragmented arbot.db gets a verified backup, then VACUUM; small freelists are skipped."""
    fragment(data_dir)
    before = db_path(data_dir, "arbot").stat().st_size
    results = maintain(
        data_dir, tmp_path / "bk", NOW, vacuum=True, vacuum_threshold=0.2, progress=True
    )
    arbot = steps(results, "arbot")
    assert arbot["vacuum"].startswith("freelist was")
    backup = Path(arbot["backup"])
    assert backup.exists() and backup.parent == tmp_path / "bk"
    assert steps(results, "config")["vacuum"].startswith("skipped")
    conn = open_database(data_dir, "arbot", readonly=True)
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] > 0
    conn.close()
    assert db_path(data_dir, "arbot").stat().st_size < before / 2


def test_vacuum_and_reindex_refuse_while_the_daemon_runs(data_dir: Path, tmp_path: Path) -> None:
    """The daemon's lock stops the long exclusive steps before they start."""
    fragment(data_dir)
    with acquire_daemon_lock(data_dir):
        for vacuum, reindex in ((True, False), (False, True)):
            with pytest.raises(DatabaseError, match="stop the daemon"):
                maintain(data_dir, tmp_path / "bk", NOW, vacuum=vacuum, reindex=reindex)
    assert not (tmp_path / "bk").exists()
    conn = open_database(data_dir, "arbot", readonly=True)
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
    conn.close()


def test_backup_taken_before_vacuum_verifies(data_dir: Path, tmp_path: Path) -> None:
    """The pre-VACUUM copy is a complete, intact database."""
    fragment(data_dir)
    results = maintain(data_dir, tmp_path / "bk", NOW, vacuum=True, progress=False)
    backup = Path(steps(results, "arbot")["backup"])
    raw = tmp_path / "raw.db"
    raw.write_bytes(gzip.decompress(backup.read_bytes()))
    verify_database(raw)
