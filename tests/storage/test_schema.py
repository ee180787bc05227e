"""The created schema matches the spec's DDL (tests/data/spec_schema.sql) table by table, or
differs only as documented in storage/migrations/arbot_001.sql."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbot.storage.connection import db_path

SPEC_SQL = Path(__file__).parents[1] / "data" / "spec_schema.sql"

# Where each spec table lives.
SPEC_FILES = {
    "arbot": {
        "tickers",
        "arbitrage_signals",
        "trades",
        "balances",
        "performance_metrics",
        "symbol_stats",
    },
    "historical": {"ohlcv"},
    "config": {"settings", "exchange_config"},
    "backtest": set(),
}
SPEC_TABLES = sorted(set().union(*SPEC_FILES.values()) - {"tickers"})
# Indexes we add beyond the spec (documented in the migrations); any other extra is a bug.
EXTRA_INDEXES = {"trades": {"idx_trades_signal"}}
TICKERS_COLUMNS = [
    "symbol",
    "exchange",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "timestamp",
    "created_at",
]

IndexSignature = tuple[int, str, int, tuple[tuple[str | None, int, str], ...]]


@pytest.fixture(scope="module")
def spec() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SPEC_SQL.read_text(encoding="utf-8"))
    yield conn
    conn.close()


@pytest.fixture
def ours(data_dir: Path) -> Iterator[dict[str, sqlite3.Connection]]:
    conns = {db: sqlite3.connect(db_path(data_dir, db)) for db in SPEC_FILES}
    yield conns
    for conn in conns.values():
        conn.close()


def file_of(table: str) -> str:
    return next(db for db, tables in SPEC_FILES.items() if table in tables)


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """(name, declared type, notnull, default, pk, hidden) per column, in order."""
    return [row[1:] for row in conn.execute(f"PRAGMA table_xinfo({table})")]


def index_key(conn: sqlite3.Connection, index: str) -> tuple[tuple[str | None, int, str], ...]:
    """The key columns of an index: (column, descending, collation)."""
    return tuple(
        (row[2], row[3], row[4]) for row in conn.execute(f"PRAGMA index_xinfo({index})") if row[5]
    )


def indexes(conn: sqlite3.Connection, table: str) -> dict[str, IndexSignature]:
    """Named indexes by name; automatic ones (UNIQUE, PRIMARY KEY) by their key columns, since
    their names depend only on declaration order."""
    out: dict[str, IndexSignature] = {}
    for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
        key = index_key(conn, name)
        label = f"auto:{origin}:{','.join(str(c[0]) for c in key)}" if origin != "c" else name
        out[label] = (unique, origin, partial, key)
    return out


def normalised_sql(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return re.sub(r"\s+", " ", row[0]).strip()


@pytest.mark.parametrize("table", SPEC_TABLES)
def test_columns_match_spec(
    table: str, spec: sqlite3.Connection, ours: dict[str, sqlite3.Connection]
) -> None:
    """Every spec table has the spec's columns: names, order, declared types, NOT NULL,
    defaults, primary key and generated (hidden) flags."""
    assert columns(ours[file_of(table)], table) == columns(spec, table)


@pytest.mark.parametrize("table", SPEC_TABLES)
def test_indexes_and_unique_constraints_match_spec(
    table: str, spec: sqlite3.Connection, ours: dict[str, sqlite3.Connection]
) -> None:
    """Every spec index and UNIQUE constraint exists with the same key columns, uniqueness and
    partial flag; the only extra indexes are the documented ones."""
    expected = indexes(spec, table)
    found = indexes(ours[file_of(table)], table)
    assert {k: found.get(k) for k in expected} == expected
    assert set(found) - set(expected) == EXTRA_INDEXES.get(table, set())


@pytest.mark.parametrize("table", SPEC_TABLES)
def test_partial_index_conditions_match_spec(
    table: str, spec: sqlite3.Connection, ours: dict[str, sqlite3.Connection]
) -> None:
    """Partial indexes carry the spec's WHERE clause."""
    partial = [row[1] for row in spec.execute(f"PRAGMA index_list({table})") if row[4]]
    conn = ours[file_of(table)]
    for name in partial:
        assert normalised_sql(conn, name) == normalised_sql(spec, name)


def test_the_spec_has_partial_indexes(spec: sqlite3.Connection) -> None:
    """Guards the test above against comparing nothing."""
    partial = {
        row[1] for t in SPEC_TABLES for row in spec.execute(f"PRAGMA index_list({t})") if row[4]
    }
    assert partial == {"idx_trades_successful", "idx_signals_executed"}


@pytest.mark.parametrize("table", SPEC_TABLES)
def test_foreign_keys_match_spec(
    table: str, spec: sqlite3.Connection, ours: dict[str, sqlite3.Connection]
) -> None:
    fks = "PRAGMA foreign_key_list({})"
    assert list(ours[file_of(table)].execute(fks.format(table))) == list(
        spec.execute(fks.format(table))
    )


@pytest.mark.parametrize("table", SPEC_TABLES)
def test_autoincrement_ids_like_spec(table: str, ours: dict[str, sqlite3.Connection]) -> None:
    """AUTOINCREMENT (invisible to the pragmas): ids are never reused after deletes."""
    assert "AUTOINCREMENT" in normalised_sql(ours[file_of(table)], table)


def test_total_balance_is_generated(ours: dict[str, sqlite3.Connection]) -> None:
    """balances.total_balance is computed by SQLite and cannot be written."""
    conn = ours["arbot"]
    hidden = {row[1]: row[6] for row in conn.execute("PRAGMA table_xinfo(balances)")}
    assert hidden["total_balance"] in (2, 3)  # 2 virtual, 3 stored generated column
    conn.execute(
        "INSERT INTO balances (exchange, asset, free_balance, locked_balance, timestamp) "
        "VALUES ('binance', 'BTC', 1.25, 0.5, 1.0)"
    )
    assert conn.execute("SELECT total_balance FROM balances").fetchone() == (1.75,)
    conn.execute("UPDATE balances SET locked_balance = 2")
    assert conn.execute("SELECT total_balance FROM balances").fetchone() == (3.25,)
    with pytest.raises(sqlite3.OperationalError, match="generated column"):
        conn.execute(
            "INSERT INTO balances (exchange, asset, total_balance, timestamp) "
            "VALUES ('okx', 'BTC', 9, 1.0)"
        )


def test_tables_live_in_their_files(ours: dict[str, sqlite3.Connection]) -> None:
    """Each spec table is in its file and in no other file."""
    found = {
        db: {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        for db, conn in ours.items()
    }
    for db, tables in SPEC_FILES.items():
        assert tables <= found[db], db
        for other in set(SPEC_FILES) - {db}:
            assert not tables & found[other], (db, other)


def test_backtest_db_has_its_tables(ours: dict[str, sqlite3.Connection]) -> None:
    names = {row[0] for row in ours["backtest"].execute("SELECT name FROM sqlite_master")}
    assert {"backtest_runs", "backtest_results", "backtest_trades"} <= names


def test_tickers_is_a_view_with_the_spec_columns(ours: dict[str, sqlite3.Connection]) -> None:
    """tickers is a VIEW over ticks (documented deviation) exposing the spec's columns (all
    but the unused `id`)."""
    conn = ours["arbot"]
    kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'tickers'").fetchone()
    assert kind == ("view",)
    assert [row[1] for row in conn.execute("PRAGMA table_xinfo(tickers)")] == TICKERS_COLUMNS


def test_ticks_keys_replace_the_spec_tickers_indexes(ours: dict[str, sqlite3.Connection]) -> None:
    """ticks' primary key enforces UNIQUE(symbol, exchange, timestamp) and serves the
    symbol-led lookups and, per symbol, the time-only filters: no other index (arbot_002)."""
    conn = ours["arbot"]
    found = indexes(conn, "ticks")
    pk = found.pop("auto:pk:symbol_id,ts,exchange_id")
    assert pk[:3] == (1, "pk", 0)
    assert found == {}
    assert "WITHOUT ROWID" in normalised_sql(conn, "ticks")
