"""Analysis queries on known data match values computed independently in Python."""

from __future__ import annotations

import sqlite3
import statistics
from pathlib import Path

import pytest
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.storage.queries import Queries
from arbot.storage.schema import open_database
from arbot.storage.sqlite.queries import SQL

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DAY = 86_400


def test_price_history_of_one_pair_in_a_closed_range(data_dir: Path) -> None:
    """Only the pair's quotes with start <= timestamp <= end, oldest first."""
    rows = random_ticks(600, NOW - 1000, 1000, seed=5)
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows)
    mine = sorted(r for r in rows if r[0] == "ETH/USDT" and r[1] == "okx")
    start, end = mine[3][2], mine[-4][2]
    got = Queries(conn, SQL).price_history("ETH/USDT", "okx", start=start, end=end)
    conn.close()
    expected = [(ts, bid, ask) for _, _, ts, bid, ask in mine if start <= ts <= end]
    assert [(r["timestamp"], r["bid"], r["ask"]) for r in got] == expected
    assert got[0]["bid_size"] == 1.0 and got[0]["ask_size"] == 2.0


def test_spread_statistics_match_python_and_skip_invalid_quotes(data_dir: Path) -> None:
    """avg/min/max/median/stdev of spread and spread % per pair over valid quotes (bid > 0,
    ask >= bid) newer than `since`; pairs under min_samples are left out."""
    rows = random_ticks(900, NOW - 3000, 3000, seed=9)
    invalid = [
        ("BTC/USDT", "binance", NOW - 10.5, 0.0, 1.0),  # no bid
        ("BTC/USDT", "binance", NOW - 11.5, 101.0, 100.0),  # crossed
    ]
    locked = [("BTC/USDT", "binance", NOW - 12.5, 100.0, 100.0)]  # spread 0 is valid
    sparse = [("XRP/USDT", "okx", NOW - 100.0 - i, 1.0, 1.01) for i in range(5)]
    old = [("BTC/USDT", "binance", NOW - 5000.5, 1.0, 50.0)]
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows + invalid + locked + sparse + old)
    got = Queries(conn, SQL).spread_analysis(NOW - 3600, min_samples=10)
    only_btc = Queries(conn, SQL).spread_analysis(NOW - 3600, symbol="BTC/USDT", min_samples=10)
    conn.close()

    pairs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for sym, ex, _, bid, ask in rows + locked:
        pairs.setdefault((sym, ex), []).append((ask - bid, (ask - bid) / ((ask + bid) / 2) * 100))
    assert {(r["symbol"], r["exchange"]) for r in got} == set(pairs)  # XRP too sparse
    for r in got:
        spreads = [s for s, _ in pairs[r["symbol"], r["exchange"]]]
        percents = [p for _, p in pairs[r["symbol"], r["exchange"]]]
        assert r["samples"] == len(spreads)
        assert r["avg_spread"] == pytest.approx(statistics.fmean(spreads))
        assert (r["min_spread"], r["max_spread"]) == (min(spreads), max(spreads))
        assert r["median_spread"] == pytest.approx(statistics.median(spreads))
        assert r["stdev_spread"] == pytest.approx(statistics.stdev(spreads))
        assert r["median_spread_percent"] == pytest.approx(statistics.median(percents))
        assert r["stdev_spread_percent"] == pytest.approx(statistics.stdev(percents))
    assert [r["symbol"] for r in only_btc] == ["BTC/USDT"] * 3
    assert only_btc == [r for r in got if r["symbol"] == "BTC/USDT"]


def _trade(
    conn: sqlite3.Connection, day: int, profit: float, fees: float, status: str = "completed"
) -> None:
    conn.execute(
        "INSERT INTO trades (symbol, buy_exchange, sell_exchange, planned_buy_price, "
        "planned_sell_price, quantity, planned_profit, actual_profit, fees_paid, status, "
        "started_at) VALUES ('BTC/USDT', 'a', 'b', 1, 2, 1, 1, ?, ?, ?, "
        "strftime('%Y-%m-%d %H:%M:%f', ?, 'unixepoch'))",
        (profit, fees, status, NOW - day * DAY),
    )


def test_daily_performance_with_cumulative_profit(data_dir: Path) -> None:
    """Completed trades per day inside the window, running total by date."""
    conn = open_database(data_dir, "arbot")
    for day, profit, fees in ((2, 5.0, 0.5), (2, -1.0, 0.5), (1, 3.0, 0.25), (0, -2.0, 0.25)):
        _trade(conn, day, profit, fees)
    _trade(conn, 1, 100.0, 0.0, status="failed")
    _trade(conn, 40, 100.0, 0.0)
    got = Queries(conn, SQL).daily_performance(30, NOW)
    conn.close()
    assert got == [
        {"trade_date": "2023-11-12", "trade_count": 2, "winning_trades": 1, "daily_profit": 4.0,
         "avg_profit": 2.0, "total_fees": 1.0, "cumulative_profit": 4.0},
        {"trade_date": "2023-11-13", "trade_count": 1, "winning_trades": 1, "daily_profit": 3.0,
         "avg_profit": 3.0, "total_fees": 0.25, "cumulative_profit": 7.0},
        {"trade_date": "2023-11-14", "trade_count": 1, "winning_trades": 0, "daily_profit": -2.0,
         "avg_profit": -2.0, "total_fees": 0.25, "cumulative_profit": 5.0},
    ]  # fmt: skip


def test_signal_statistics_count_the_period(data_dir: Path) -> None:
    """Signals of the last `period_hours` only (delegated to storage.signals)."""
    conn = open_database(data_dir, "arbot")
    for age, executed in ((3600, 1), (7200, 0), (30 * 3600, 1)):
        conn.execute(
            "INSERT INTO arbitrage_signals (symbol, buy_exchange, sell_exchange, buy_price, "
            "sell_price, profit, profit_percent, buy_size, sell_size, confidence, executed, "
            "timestamp) VALUES ('BTC/USDT', 'a', 'b', 1, 2, 1, 0.5, 1, 1, 0.8, ?, ?)",
            (executed, NOW - age),
        )
    got = Queries(conn, SQL).signal_stats(24, NOW)
    conn.close()
    assert got["total_signals"] == 2 and got["executed_signals"] == 1
    assert got["execution_rate"] == 0.5
