"""Connections carry the project's pragmas; check_file refuses foreign, corrupt and truncated
files without touching them."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest

from arbot.errors import DatabaseError
from arbot.settings import StorageSettings
from arbot.storage.connection import Pragmas, check_file, connect, db_path
from arbot.storage.schema import open_database

CUSTOM = Pragmas(cache_size_kib=12_345, busy_timeout_ms=4_321, wal_autocheckpoint_pages=777)


def pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_writer_connection_pragmas(tmp_path: Path) -> None:
    """WAL, synchronous=NORMAL, foreign keys, temp_store=MEMORY and the configured busy
    timeout, cache size (KiB, hence negative) and autocheckpoint."""
    conn = connect(tmp_path / "a.db", CUSTOM)
    assert pragma(conn, "journal_mode") == "wal"
    assert pragma(conn, "synchronous") == 1
    assert pragma(conn, "foreign_keys") == 1
    assert pragma(conn, "temp_store") == 2
    assert pragma(conn, "busy_timeout") == 4_321
    assert pragma(conn, "cache_size") == -12_345
    assert pragma(conn, "wal_autocheckpoint") == 777
    conn.close()


def test_open_database_applies_the_given_pragmas(data_dir: Path) -> None:
    conn = open_database(data_dir, "arbot", CUSTOM)
    assert (pragma(conn, "cache_size"), pragma(conn, "busy_timeout")) == (-12_345, 4_321)
    conn.close()


def test_default_pragmas_match_the_settings_defaults() -> None:
    """Pragmas() and StorageSettings() agree, so code that forgets to pass settings still
    gets the documented values."""
    storage = StorageSettings()
    assert {f.name: getattr(Pragmas(), f.name) for f in fields(Pragmas)} == {
        f.name: getattr(storage, f.name) for f in fields(Pragmas)
    }


def test_wal_mode_persists_in_the_file(tmp_path: Path) -> None:
    """The file header records WAL (read/write format version 2), so every later opener,
    including other tools, uses WAL too."""
    path = tmp_path / "a.db"
    connect(path).close()
    header = path.read_bytes()[:20]
    assert (header[18], header[19]) == (2, 2)


def test_reader_connection(data_dir: Path) -> None:
    """A read-only connection cannot write, and has the busy timeout, cache and functions."""
    conn = open_database(data_dir, "arbot", CUSTOM, readonly=True)
    assert (pragma(conn, "busy_timeout"), pragma(conn, "cache_size")) == (4_321, -12_345)
    assert pragma(conn, "temp_store") == 2
    assert conn.execute("SELECT stdev(x), median(x) FROM (SELECT 1 AS x UNION SELECT 3)").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("CREATE TABLE x (y)")
    conn.close()


def test_functions_are_registered_on_every_connection(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a.db")
    row = conn.execute("SELECT STDEV(x), MEDIAN(x) FROM (SELECT 1 AS x UNION SELECT 2)").fetchone()
    assert row == (pytest.approx(0.5**0.5), 1.5)
    conn.close()


def fingerprint(path: Path) -> tuple[str, int, int]:
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        path.stat().st_size,
    )


def test_missing_and_empty_files_are_accepted(tmp_path: Path) -> None:
    check_file(tmp_path / "missing.db")
    (tmp_path / "empty.db").touch()
    check_file(tmp_path / "empty.db")


def test_a_healthy_database_is_accepted(data_dir: Path) -> None:
    check_file(db_path(data_dir, "arbot"))


def make_foreign(path: Path, journal_mode: str = "delete") -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('ada')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,price\nBTC,1\n" * 10, "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\x00" * 10, "not an SQLite database"),
    ],
    ids=["text", "short-header"],
)
def test_non_sqlite_files_are_refused_untouched(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "arbot.db"
    path.write_bytes(content)
    before = fingerprint(path)
    with pytest.raises(DatabaseError, match=rf"{path}: {message}"):
        check_file(path)
    assert fingerprint(path) == before


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "arbot.db"
    make_foreign(path)
    before = fingerprint(path)
    with pytest.raises(DatabaseError, match=rf"{path}: an SQLite database of another app"):
        check_file(path)
    assert fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arbot.db"]


def test_another_applications_wal_database_gets_no_sibling_files(tmp_path: Path) -> None:
    path = tmp_path / "arbot.db"
    make_foreign(path, "wal")
    before = fingerprint(path)
    with pytest.raises(DatabaseError, match="another application"):
        check_file(path)
    assert fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arbot.db"]


def test_a_truncated_database_is_refused_untouched(data_dir: Path) -> None:
    path = db_path(data_dir, "arbot")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = fingerprint(path)
    with pytest.raises(DatabaseError, match=rf"{path}: database file is truncated"):
        check_file(path)
    assert fingerprint(path) == before


def test_a_corrupt_page_is_refused(data_dir: Path) -> None:
    """Garbage inside the file (header intact, size right) fails the quick check."""
    path = db_path(data_dir, "arbot")
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size : 3 * page_size] = b"\xa5" * (2 * page_size)  # pages 2-3: schema b-trees
    path.write_bytes(bytes(data))
    before = fingerprint(path)
    with pytest.raises(DatabaseError, match=rf"{path}: database is corrupt"):
        check_file(path)
    assert fingerprint(path) == before


def test_a_question_mark_in_the_path_is_part_of_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign file in a directory named 'a?b' is still checked, and nothing is created."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "a?b"
    folder.mkdir()
    make_foreign(folder / "arbot.db")
    with pytest.raises(DatabaseError, match="another application"):
        check_file(Path("a?b") / "arbot.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a?b"]
