"""Retention archives old ticks as exact hourly bars, deletes them, and prunes old rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.storage.dbops_data import expected_bars, insert_ticks, random_ticks

from arbot.settings import RetentionSettings
from arbot.storage.schema import open_database
from arbot.storage.sqlite.retention import DAY, archived_until, prune

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
CUTOFF = NOW - 7 * DAY


def bars(data_dir: Path) -> dict[tuple[str, str, int], tuple[float, ...]]:
    conn = open_database(data_dir, "historical")
    rows = conn.execute(
        "SELECT symbol, exchange, open_time, open_price, high_price, low_price, close_price, "
        "volume, close_time, timeframe, trades_count FROM ohlcv"
    ).fetchall()
    conn.close()
    for r in rows:
        assert r[8] == r[2] + 3599 and r[9] == "1h" and r[10] is None
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5], r[6], r[7]) for r in rows}


def tick_keys(data_dir: Path) -> set[tuple[str, str, float]]:
    conn = open_database(data_dir, "arbot")
    keys = set(conn.execute("SELECT symbol, exchange, timestamp FROM tickers").fetchall())
    conn.close()
    return keys


def test_archive_bars_equal_an_independent_computation(data_dir: Path) -> None:
    """Bars hold first/last/max/min mid and tick count per (symbol, exchange, hour)."""
    rows = random_ticks(3000, CUTOFF - 5 * 3600, 8 * 3600)
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows)
    conn.close()

    report = prune(data_dir, RetentionSettings(chunk_rows=100), NOW)

    boundary = int(CUTOFF // 3600) * 3600  # the hour holding the cutoff is not complete yet
    assert bars(data_dir) == expected_bars(rows, boundary)
    assert report.archived_until == boundary
    kept = {(s, e, ts) for s, e, ts, _, _ in rows if ts >= boundary}
    assert tick_keys(data_dir) == kept
    assert report.ticks_deleted == len(rows) - len(kept)


def test_prune_twice_neither_duplicates_nor_changes_bars(data_dir: Path) -> None:
    """A second run (and a later one) only archives the newly completed hours."""
    rows = random_ticks(2000, CUTOFF - 3 * 3600, 6 * 3600, seed=3)
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows)
    conn.close()
    prune(data_dir, RetentionSettings(), NOW)
    first = bars(data_dir)
    again = prune(data_dir, RetentionSettings(), NOW)
    assert again.bars_written == 0 and again.ticks_deleted == 0
    assert bars(data_dir) == first

    later = prune(data_dir, RetentionSettings(), NOW + 2 * 3600)
    assert later.bars_written > 0
    assert bars(data_dir) == expected_bars(rows, int((CUTOFF + 2 * 3600) // 3600) * 3600)


def test_empty_database_sets_the_watermark_without_bars(data_dir: Path) -> None:
    """With no ticks at all the watermark still advances to the last complete hour."""
    report = prune(data_dir, RetentionSettings(), NOW)
    assert report.bars_written == 0
    conn = open_database(data_dir, "historical")
    assert archived_until(conn) == int(CUTOFF // 3600) * 3600
    conn.close()


def _insert_signal(conn: sqlite3.Connection, ts: float) -> int:
    cur = conn.execute(
        "INSERT INTO arbitrage_signals (symbol, buy_exchange, sell_exchange, buy_price, "
        "sell_price, profit, profit_percent, buy_size, sell_size, confidence, timestamp) "
        "VALUES ('BTC/USDT', 'a', 'b', 1, 2, 1, 1, 1, 1, 0.5, ?)",
        (ts,),
    )
    return int(cur.lastrowid or 0)


def test_other_tables_follow_their_policies(data_dir: Path) -> None:
    """Signals after 30 days (unless a kept trade references them), trades after 365,
    performance metrics after 1095 days."""
    conn = open_database(data_dir, "arbot")
    old_free = _insert_signal(conn, NOW - 31 * DAY)
    old_traded = _insert_signal(conn, NOW - 31 * DAY)
    recent = _insert_signal(conn, NOW - 29 * DAY)
    for signal_id, age in ((old_traded, 100), (None, 366)):
        conn.execute(
            "INSERT INTO trades (signal_id, symbol, buy_exchange, sell_exchange, "
            "planned_buy_price, planned_sell_price, quantity, planned_profit, status, started_at)"
            " VALUES (?, 'BTC/USDT', 'a', 'b', 1, 2, 1, 1, 'completed', "
            "datetime(?, 'unixepoch'))",
            (signal_id, NOW - age * DAY),
        )
    for age in (1094, 1096):
        conn.execute(
            "INSERT INTO performance_metrics (date) VALUES (date(?, 'unixepoch'))",
            (NOW - age * DAY,),
        )
    conn.close()

    report = prune(data_dir, RetentionSettings(chunk_rows=100), NOW)

    conn = open_database(data_dir, "arbot")
    signals = {r[0] for r in conn.execute("SELECT id FROM arbitrage_signals")}
    assert signals == {old_traded, recent} and old_free not in signals
    assert conn.execute("SELECT signal_id FROM trades").fetchall() == [(old_traded,)]
    assert conn.execute("SELECT count(*) FROM performance_metrics").fetchone()[0] == 1
    conn.close()
    assert report.rows_deleted["trades"] == 1
    assert report.rows_deleted["arbitrage_signals"] == 1
    assert report.rows_deleted["performance_metrics"] == 1
