"""Migrations: numbered scripts per file tracked by user_version, each applied in one
transaction; idempotent; a failing one leaves no trace; a newer file is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arbot.errors import DatabaseError
from arbot.storage.connection import APPLICATION_ID, DATABASES, connect, db_path
from arbot.storage.schema import init_all, migrate, migrations, open_database, schema_version


def dump(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Schema (sqlite_master) and version pragmas of every file."""
    out = {}
    for db in DATABASES:
        conn = sqlite3.connect(db_path(data_dir, db))
        out[db] = [
            *conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"),
            conn.execute("PRAGMA user_version").fetchone(),
            conn.execute("PRAGMA application_id").fetchone(),
        ]
        conn.close()
    return out


def test_every_file_is_at_its_latest_version(data_dir: Path) -> None:
    for db in DATABASES:
        conn = open_database(data_dir, db)
        assert schema_version(conn) == len(migrations(db)) >= 1
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        conn.close()


def test_init_twice_keeps_schema_and_data(data_dir: Path) -> None:
    """A second init changes nothing: same schema, same versions, rows kept."""
    before = dump(data_dir)
    conn = open_database(data_dir, "config")
    conn.execute("INSERT INTO settings (category, key, value) VALUES ('a', 'b', 'c')")
    conn.close()
    assert init_all(data_dir) == {db: len(migrations(db)) for db in DATABASES}
    assert dump(data_dir) == before
    conn = open_database(data_dir, "config")
    assert conn.execute("SELECT category, key, value FROM settings").fetchall() == [("a", "b", "c")]
    conn.close()


def tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_failing_migration_is_rolled_back(tmp_path: Path) -> None:
    """A script whose second statement fails leaves no table of it and the version unchanged;
    the scripts before it stay applied. The error names the file and the migration."""
    path = tmp_path / "arbot.db"
    conn = connect(path)
    scripts = [
        "CREATE TABLE one (x);\n",
        "CREATE TABLE two (x);\nINSERT INTO missing_table VALUES (1);\nCREATE TABLE three (x);\n",
    ]
    with pytest.raises(DatabaseError, match=r"arbot\.db: migration arbot #2 failed"):
        migrate(conn, "arbot", path, scripts=scripts)
    assert not conn.in_transaction
    conn.close()
    fresh = sqlite3.connect(path)
    assert tables(fresh) == {"one"}
    assert fresh.execute("PRAGMA user_version").fetchone() == (1,)
    fresh.close()


def test_a_failing_first_migration_leaves_the_file_unmarked(tmp_path: Path) -> None:
    """Nothing of a failed first migration stays, not even our application_id."""
    path = tmp_path / "arbot.db"
    conn = connect(path)
    with pytest.raises(DatabaseError, match="migration arbot #1 failed"):
        migrate(conn, "arbot", path, scripts=["CREATE TABLE one (x);\nCREATE TABLE one (y);\n"])
    conn.close()
    fresh = sqlite3.connect(path)
    assert tables(fresh) == set()
    assert fresh.execute("PRAGMA user_version").fetchone() == (0,)
    assert fresh.execute("PRAGMA application_id").fetchone() == (0,)
    fresh.close()


def test_a_failed_migration_is_retried_on_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "arbot.db"
    conn = connect(path)
    with pytest.raises(DatabaseError):
        migrate(conn, "arbot", path, scripts=["CREATE TABLE one (x);\nSELECT * FROM nope;\n"])
    assert migrate(conn, "arbot", path, scripts=["CREATE TABLE one (x);\n"]) == 1
    assert tables(conn) == {"one"}
    conn.close()


def test_triggers_with_inner_semicolons_are_one_statement(tmp_path: Path) -> None:
    path = tmp_path / "arbot.db"
    conn = connect(path)
    script = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t (x);\nCREATE TABLE log (x);\n"
        "CREATE TRIGGER t_log AFTER INSERT ON t\nBEGIN\n"
        "    INSERT INTO log VALUES (NEW.x);\n    INSERT INTO log VALUES (-NEW.x);\nEND;\n"
    )
    migrate(conn, "arbot", path, scripts=[script])
    conn.execute("INSERT INTO t VALUES (2)")
    assert conn.execute("SELECT x FROM log ORDER BY x").fetchall() == [(-2,), (2,)]
    conn.close()


def test_a_newer_file_is_refused_naming_it(data_dir: Path) -> None:
    """A file migrated by a newer arbot (higher user_version) is refused with the file named."""
    path = db_path(data_dir, "historical")
    bump = sqlite3.connect(path)
    bump.execute(f"PRAGMA user_version = {len(migrations('historical')) + 1}")
    bump.close()
    with pytest.raises(DatabaseError, match=rf"{path}: schema version \d+ is newer"):
        open_database(data_dir, "historical")
    with pytest.raises(DatabaseError, match="newer"):
        init_all(data_dir)


def test_read_only_open_refuses_a_missing_or_outdated_file(data_dir: Path) -> None:
    """Readers never migrate: a missing file or another version is an error naming the file."""
    with pytest.raises(DatabaseError, match=r"nowhere/arbot\.db: database does not exist"):
        open_database(data_dir / "nowhere", "arbot", readonly=True)
    conn = sqlite3.connect(db_path(data_dir, "config"))
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    with pytest.raises(DatabaseError, match=r"config\.db: schema version 0 differs"):
        open_database(data_dir, "config", readonly=True)


def test_v1_ticks_survive_the_move_to_v2(tmp_path: Path) -> None:
    """arbot_002 drops ticks_ts and re-creates the view: a v1 file keeps every tick, and the
    view's insert and delete triggers still work."""
    path = tmp_path / "arbot.db"
    conn = connect(path)
    assert migrate(conn, "arbot", path, migrations("arbot")[:1]) == 1
    conn.executemany(
        "INSERT INTO tickers (symbol, exchange, bid, ask, bid_size, ask_size, timestamp)"
        " VALUES (?, ?, ?, ?, 1.0, 2.0, ?)",
        [(s, e, 100.0 + i, 101.0 + i, 10.0 * i) for i in range(5) for s in "AB" for e in "xy"],
    )
    before = conn.execute("SELECT * FROM tickers ORDER BY symbol, timestamp, exchange").fetchall()
    assert migrate(conn, "arbot", path, migrations("arbot")[:2]) == 2
    indexes = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    assert ("ticks_ts",) not in indexes
    assert conn.execute(
        "SELECT * FROM tickers ORDER BY symbol, timestamp, exchange"
    ).fetchall() == (before)
    conn.execute("DELETE FROM tickers WHERE timestamp < 20")
    conn.execute(
        "INSERT INTO tickers (symbol, exchange, bid, ask, timestamp) VALUES ('C', 'z', 1, 2, 99)"
    )
    assert conn.execute("SELECT count(*), min(timestamp) FROM tickers").fetchone() == (13, 20.0)
    conn.close()
