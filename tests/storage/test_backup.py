"""Online backups are consistent under load, verified before they count, and rotated."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from arbot.storage.connection import DATABASES, connect, db_path
from arbot.storage.schema import init_all
from arbot.storage.sqlite.backup import WEEKLY_DIR, parse_name, run_backup
from arbot.storage.sqlite.restore import restore

NOW = 1_700_000_000.0
DAY = 86_400.0
BATCH = 500


def _unpacked(path: Path, tmp: Path) -> sqlite3.Connection:
    raw = tmp / "unpacked.db"
    with gzip.open(path, "rb") as f_in, raw.open("wb") as f_out:
        shutil.copyfileobj(f_in, f_out)
    return sqlite3.connect(raw)


def test_backup_during_heavy_writes_is_a_consistent_prefix(data_dir: Path, tmp_path: Path) -> None:
    """While a writer commits batches back to back, the backup holds whole batches 0..k and
    nothing else, and passes integrity_check."""
    writer = connect(db_path(data_dir, "arbot"))
    writer.execute("INSERT INTO symbols(id, name) VALUES (1, 'BTC/USDT')")
    writer.execute("INSERT INTO exchanges(id, name) VALUES (1, 'x')")
    stop = threading.Event()
    committed: list[int] = []

    def write() -> None:
        batch = 0
        while not stop.is_set() or batch < 20:
            rows = [(1, batch * 10_000.0 + i, 1, 100.0, 101.0, batch) for i in range(BATCH)]
            writer.execute("BEGIN IMMEDIATE")
            writer.executemany(
                "INSERT INTO ticks (symbol_id, ts, exchange_id, bid, ask, recv_delta_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            writer.execute("COMMIT")
            committed.append(batch)
            batch += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(committed) < 10:
            stop.wait(0.005)
        report = run_backup(data_dir, tmp_path / "backups", NOW)
    finally:
        stop.set()
        thread.join()
        writer.close()

    assert report.ok, report.failed
    arbot = next(f for f in report.files if f.db == "arbot")
    conn = _unpacked(arbot.path, tmp_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    per_batch = conn.execute(
        "SELECT recv_delta_ms, count(*) FROM ticks GROUP BY recv_delta_ms ORDER BY 1"
    ).fetchall()
    conn.close()
    batches = [b for b, _ in per_batch]
    assert batches == list(range(len(batches))) and len(batches) >= 10
    assert all(n == BATCH for _, n in per_batch)
    assert len(batches) < len(committed)  # the writer kept going during the backup


def test_backup_names_and_weekly_rotation(data_dir: Path, tmp_path: Path) -> None:
    """Daily sets beyond keep_daily are deleted; a weekly copy is taken once per week."""
    dest = tmp_path / "backups"
    for day in range(10):
        report = run_backup(data_dir, dest, NOW + day * DAY, keep_daily=3, keep_weekly=1)
        assert report.ok, report.failed
    daily = sorted(p.name for p in dest.iterdir() if p.is_file())
    assert len(daily) == 3 * len(DATABASES)
    stamps = {parsed[1] for n in daily if (parsed := parse_name(dest / n))}
    assert stamps == {NOW + d * DAY for d in (7, 8, 9)}
    assert "arbot_20231121_221320.db.gz" in daily
    weekly = sorted(p.name for p in (dest / WEEKLY_DIR).iterdir())
    # Weekly copies were taken on day 0 and day 7; keep_weekly=1 kept day 7's.
    assert weekly == sorted(f"{db}_20231121_221320.db.gz" for db in DATABASES)


def test_failed_verification_is_deleted_reported_and_rotates_nothing(
    data_dir: Path, tmp_path: Path
) -> None:
    """A database that is not ours fails verification: no file, an error, old sets kept."""
    dest = tmp_path / "backups"
    assert run_backup(data_dir, dest, NOW, keep_daily=1, compress=False).ok
    conn = sqlite3.connect(db_path(data_dir, "config"))
    conn.execute("PRAGMA application_id = 0")
    conn.close()

    report = run_backup(data_dir, dest, NOW + DAY, keep_daily=1, compress=False)

    assert set(report.failed) == {"config"}
    assert "application_id" in report.failed["config"]
    assert not list(dest.glob("config_20231115_*")) and not list(dest.glob(".*"))
    assert (dest / "arbot_20231114_221320.db").exists()  # rotation skipped
    assert report.removed == []


def test_backup_and_restore_in_a_directory_with_uri_characters(tmp_path: Path) -> None:
    """'?', '#' and '%' in the data or backup path are file-name characters, not URI syntax."""
    odd = tmp_path / "we?ird#dir%20"
    init_all(odd / "data")
    report = run_backup(odd / "data", odd / "backups", NOW)
    assert report.ok, report.failed
    restore(odd / "data", report.files[0].path, "arbot", odd / "backups", NOW + 1)


class Stop(Exception):
    pass


def test_a_stopped_backup_leaves_no_file(data_dir: Path, tmp_path: Path) -> None:
    """`check` raising (the daemon stopping) aborts the run; no partial or final file stays."""
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Stop

    dest = tmp_path / "backups"
    with pytest.raises(Stop):
        run_backup(data_dir, dest, NOW, check=check)
    assert calls == 3
    assert list(dest.iterdir()) == []  # arbot's copy was stopped before it counted
