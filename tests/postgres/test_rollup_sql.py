"""The rollup upserts are one SQL for both backends: a rerun of a day replaces its rows,
and a symbol without signals that day any more loses its symbol_stats row."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from arbot.rollup import PerformanceRow, SymbolStatRow
from arbot.storage.rollups import replace_symbol_stats, upsert_performance
from tests.postgres.backends import Backend

DAY = date(2026, 3, 1)


def stat(symbol: str, generated: int) -> SymbolStatRow:
    return SymbolStatRow(symbol, DAY.isoformat(), generated, 1, 0.2, 0.5, 10.0, 0.3)


def test_a_rerun_replaces_the_days_rows(backend: Backend) -> None:
    performance = PerformanceRow(DAY.isoformat(), 4, 3, 12.5, 0.5, 0.25, 1.0, None, 0.75, 30.0)
    with backend.db() as db:
        upsert_performance(db.conn, performance)
        upsert_performance(db.conn, replace(performance, total_trades=5))
        replace_symbol_stats(db.conn, DAY, [stat("BTC/USDT", 3), stat("ETH/USDT", 2)])
        replace_symbol_stats(db.conn, DAY, [stat("ETH/USDT", 7)])
    assert backend.rows("SELECT total_trades, successful_trades FROM performance_metrics") == [
        (5, 3)
    ]
    assert backend.rows("SELECT symbol, signals_generated FROM symbol_stats") == [("ETH/USDT", 7)]
    with backend.db() as db:
        replace_symbol_stats(db.conn, DAY, [])
    assert backend.rows("SELECT count(*) FROM symbol_stats") == [(0,)]
