"""`arbot query`'s analysis queries give the same answers on both backends for the same
data (the spec's inserts): price history, spreads with median and stdev, signals and their
totals, daily performance."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from arbot.settings import PostgresSettings
from arbot.storage import queries
from arbot.storage.pg import queries as pg_queries
from arbot.storage.pg.connect import connect
from arbot.storage.schema import open_database
from tests.postgres.backends import Backend
from tests.storage.test_schema_spec_sql import INSERT_TICKER, SPEC_STATEMENTS, ticks

NOW = time.time()


def fill(backend: Backend) -> None:
    with backend.db() as db:
        rows = [*ticks("BTC/USDT", "binance", 150), *ticks("BTC/USDT", "okx", 120)]
        db.executemany(INSERT_TICKER, rows)
        sql, params = SPEC_STATEMENTS["save_signal"]
        db.execute(sql, (*params[:-1], NOW - 60))
        for name in ("create_trade", "update_trade_execution"):
            db.execute(*SPEC_STATEMENTS[name])


def answers(module: Any, conn: Any) -> dict[str, Any]:
    return {
        "prices": module.price_history(conn, "BTC/USDT", "okx", start=1010.0, end=1020.0),
        "prices_desc": module.price_history(
            conn, "BTC/USDT", "okx", start=0.0, end=2000.0, limit=3, newest_first=True
        ),
        "names": module.known_names(conn, "exchanges"),
        "spreads": module.spread_analysis(conn, 1005.0, None, 100),
        "spreads_one": module.spread_analysis(conn, 0.0, "BTC/USDT", 10),
        "signals": module.list_signals(conn, NOW - 3600, exchange="okx", min_profit_percent=0.5),
        "stats": module.signal_stats(conn, 1.0, NOW),
        "performance": module.daily_performance(conn, 30, NOW),
    }


def normalised(value: Any, *, approx: bool = False) -> Any:
    """Booleans as 0/1 (SQLite has no boolean); floats of the expected side approximate."""
    if isinstance(value, dict):
        return {k: normalised(v, approx=approx) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, approx=approx) for v in value]
    if isinstance(value, bool):
        return int(value)
    if approx and isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    return value


def test_same_answers_on_both_backends(data_dir: Path, pg_settings: PostgresSettings) -> None:
    sqlite_side = Backend("sqlite", data_dir, None)
    pg_side = Backend("postgresql", data_dir, pg_settings)
    fill(sqlite_side)
    fill(pg_side)
    conn = open_database(data_dir, "arbot", readonly=True)
    try:
        expected = answers(queries, conn)
    finally:
        conn.close()
    with connect(pg_settings) as pg_conn:
        got = answers(pg_queries, pg_conn)
    assert len(expected["spreads"]) == 2 and len(expected["signals"]) == 1  # not vacuous
    assert expected["performance"] and expected["stats"]["total_signals"] == 1
    for key, value in got.items():
        assert normalised(value) == normalised(expected[key], approx=True), key
