"""PostgreSQL migrations: the logical schema of the SQLite files, created once even by
daemons starting together; a newer schema or another application's tables are refused
untouched; daily tick partitions are created ahead and on demand."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest

from arbot.errors import DatabaseError
from arbot.settings import PostgresSettings
from arbot.storage.connection import DATABASES
from arbot.storage.pg.connect import connect
from arbot.storage.pg.partitions import DAY, ensure_ahead, partition_days
from arbot.storage.pg.schema import check_schema, migrate, migrations, schema_version


def sqlite_tables(data_dir: Path) -> dict[str, set[str]]:
    """table or view -> columns, over the four SQLite files."""
    out: dict[str, set[str]] = {}
    for db in DATABASES:
        conn = sqlite3.connect(data_dir / f"{db}.db")
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for (name,) in names:
            cols = conn.execute(f"SELECT name FROM pragma_table_xinfo('{name}')").fetchall()
            out[name] = {c for (c,) in cols}
        conn.close()
    return out


def test_every_sqlite_table_and_column_exists_in_postgresql(
    data_dir: Path, pg_settings: PostgresSettings
) -> None:
    """Same logical schema: every table and view of the SQLite files, with its columns
    (ticks' storage-only views aside), exists on PostgreSQL."""
    expected = sqlite_tables(data_dir)
    with connect(pg_settings) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    missing = {
        table: cols - found.get(table, set())
        for table, cols in expected.items()
        if table != "tick_values" and cols - found.get(table, set())
    }
    assert missing == {}


def test_migrate_is_idempotent(pg_settings: PostgresSettings) -> None:
    with connect(pg_settings) as conn:
        assert migrate(conn) == len(migrations()) == schema_version(conn)
        check_schema(conn)


def test_a_newer_schema_is_refused(pg_settings: PostgresSettings) -> None:
    with connect(pg_settings) as conn:
        conn.execute("UPDATE arbot_schema SET version = 99")
        with pytest.raises(DatabaseError, match="schema version 99 is newer"):
            migrate(conn)
        with pytest.raises(DatabaseError, match="newer"):
            check_schema(conn)


def test_another_applications_tables_are_refused_untouched(
    pg_settings: PostgresSettings,
) -> None:
    with connect(pg_settings) as conn:
        conn.execute("CREATE SCHEMA foreign_app")
        conn.execute("SET search_path = foreign_app")
        conn.execute("CREATE TABLE customers (id int)")
        with pytest.raises(DatabaseError, match="another application"):
            migrate(conn)
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'foreign_app'"
        ).fetchall()
        assert tables == [("customers",)]


def test_daemons_starting_together_migrate_once(pg_settings: PostgresSettings) -> None:
    """Four connections migrating an empty schema at once: one creates it, the others
    find it done (advisory lock), none fails."""
    with connect(pg_settings) as conn:
        conn.execute("CREATE SCHEMA fresh")
    conninfo = re.sub(r"search_path=\w+", "search_path=fresh", pg_settings.conninfo)
    settings = pg_settings.model_copy(update={"conninfo": conninfo})
    results: list[object] = []

    def run() -> None:
        try:
            with connect(settings) as c:
                results.append(migrate(c))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [len(migrations())] * 4
    with connect(settings) as conn:
        assert conn.execute("SELECT to_regclass('fresh.ticks') IS NOT NULL").fetchone() == (True,)


def test_partitions_are_created_ahead_and_listed(pg_settings: PostgresSettings) -> None:
    now = 1_700_000_000.0  # 2023-11-14
    with connect(pg_settings) as conn:
        ensure_ahead(conn, now, 3)
        ensure_ahead(conn, now, 3)
        days = partition_days(conn)
    today = int(now // DAY)
    assert sorted(days) == [today, today + 1, today + 2, today + 3]
    assert days[today] == "ticks_20231114"
