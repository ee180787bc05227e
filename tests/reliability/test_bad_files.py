"""Scenario 6: corrupt or foreign files at start. The daemon names the file, exits 4
without a traceback, and leaves the file exactly as it was (bytes and mtime)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from arbot.errors import EXIT_DATABASE
from arbot.storage.schema import init_all
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import start_once
from tests.reliability.datadir import fingerprint
from tests.reliability.summary import brief


def truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def not_sqlite(db: Path) -> None:
    db.write_bytes(b"these are not the pages you are looking for\n" * 200)


def other_application(db: Path) -> None:
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, blob BLOB)")
    conn.close()


def newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()


CASES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "not_sqlite": not_sqlite,
    "other_application": other_application,
    "newer_schema": newer_schema,
}
SIDECARS = ("-wal", "-shm", "-journal")


@pytest.mark.integration
@pytest.mark.parametrize("db_name", ["arbot", "historical"])
@pytest.mark.parametrize("damage", list(CASES))
def test_bad_file_refused_untouched(
    tmp_path: Path, damage: str, db_name: str, figures: dict[str, object]
) -> None:
    """A damaged or foreign database file stops the start with exit 4 and a message naming
    the file; its bytes, size and mtime are unchanged and no journal appears beside it."""
    data_dir = tmp_path / "data"
    init_all(data_dir)
    bad = data_dir / f"{db_name}.db"
    CASES[damage](bad)
    before = fingerprint(bad)
    # The fake exchange's port is closed: the database must be refused before any feed.
    doc = daemon_doc(
        data_dir, [exchange("ex", "binance", f"http://127.0.0.1:{free_port()}")], free_port()
    )
    config = write_config(tmp_path / "arbot.toml", doc)

    result = start_once(config)

    figures.update(exit=result.returncode, message=brief(result.stderr, data_dir))
    assert result.returncode == EXIT_DATABASE, result.stderr
    assert str(bad) in result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(bad) == before
    assert not [s for s in SIDECARS if Path(f"{bad}{s}").exists()]
