"""db stats reports true sizes, counts and rates; explain plans reads and refuses the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.storage.connection import db_path
from arbot.storage.schema import migrations, open_database
from arbot.storage.sqlite.stats import (
    StatementRefused,
    all_stats,
    database_stats,
    explain,
    plan_text,
)

NOW = 1_700_000_000.0


@pytest.fixture
def loaded(data_dir: Path) -> Path:
    """120 ticks in the last minute, 600 more in the last hour, 1000 older ones."""
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(120, NOW - 59, 59, seed=1))
    insert_ticks(conn, random_ticks(600, NOW - 3599, 3500, seed=2))
    insert_ticks(conn, random_ticks(1000, NOW - 86_400, 80_000, seed=3))
    conn.close()
    return data_dir


def test_stats_of_known_data(loaded: Path) -> None:
    """Row counts per schema table, file sizes from disk, tick rates and the growth they imply."""
    s = database_stats(loaded, "arbot", NOW)
    assert s["rows"]["ticks"] == 1720
    assert s["rows"]["symbols"] == 3 and s["rows"]["trades"] == 0
    assert "tickers" not in s["rows"]  # a view, not a table
    assert s["file_bytes"] == os.path.getsize(db_path(loaded, "arbot"))
    assert s["page_count"] * s["page_size"] <= s["file_bytes"] + s["wal_bytes"]
    assert {"name": "idx_signals_symbol", "table": "arbitrage_signals"} in s["indexes"]
    assert not [i for i in s["indexes"] if i["table"] == "ticks"]  # the key only (arbot_002)
    ing = s["ingestion"]
    assert ing["ticks_last_minute"] == 120 and ing["ticks_last_hour"] == 720
    assert ing["ticks_per_second_minute"] == 2.0 and ing["ticks_per_second_hour"] == 0.2
    used = (s["page_count"] - s["freelist_count"]) * s["page_size"]
    assert ing["bytes_per_tick"] == used / 1720
    assert ing["projected_growth_bytes_per_day"] == pytest.approx(used / 1720 * 0.2 * 86_400)


def test_stats_of_all_files_and_a_missing_one(loaded: Path) -> None:
    """Every file is listed; a missing one says so instead of failing."""
    db_path(loaded, "backtest").unlink()
    by_name = {s["database"]: s for s in all_stats(loaded, NOW)}
    assert by_name["backtest"]["exists"] is False
    assert by_name["historical"]["rows"] == {"archive_state": 0, "ohlcv": 0}
    assert "ingestion" not in by_name["historical"]


def test_explain_plans_a_select_with_parameters(loaded: Path) -> None:
    """Positional and named parameters are bound as NULL; the plan shows the key used."""
    plan = explain(loaded, "arbot", "SELECT * FROM tickers WHERE symbol = ? AND timestamp > ?")
    assert "SEARCH ticks USING PRIMARY KEY (symbol_id=? AND ts>?)" in plan_text(plan)
    plan = explain(loaded, "arbot", "  -- note\nWITH x AS (SELECT ts FROM ticks WHERE ts > :t) "
                   "SELECT count(*) FROM x;")  # fmt: skip
    assert "SCAN ticks" in plan_text(plan)


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM ticks",
        "WITH x AS (SELECT 1) DELETE FROM ticks",
        "INSERT INTO symbols(name) VALUES ('x')",
        "UPDATE ticks SET bid = 0",
        "PRAGMA user_version = 5",
        "ATTACH DATABASE 'x.db' AS x",
        "SELECT 1; DELETE FROM ticks",
        "DROP TABLE ticks",
        "SELECT * FROM",
        "",
    ],
)
def test_explain_refuses_anything_but_one_read(loaded: Path, sql: str) -> None:
    """Writes, pragmas, attachments, several statements and broken SQL are refused."""
    with pytest.raises(StatementRefused):
        explain(loaded, "arbot", sql)
    conn = open_database(loaded, "arbot", readonly=True)
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 1720
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations("arbot"))
    conn.close()
