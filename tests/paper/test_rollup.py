"""Daily rollups match figures computed by hand from known trades and signals, and
re-running a day updates its rows in place."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from arbot.rollup import max_drawdown, previous_utc_day
from arbot.storage.rollups import performance_of, symbol_stats_of
from arbot.storage.schema import open_database
from arbot.storage.sqlite.rollups import daily_rollup, run_rollup

DAY = date(2024, 8, 8)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# symbol, status, quantity, buy price, profit, fees, started, completed
TRADES = [
    (
        "BTC/USDT",
        "completed",
        1.0,
        100.0,
        2.0,
        0.2,
        "2024-08-08 10:00:00.000",
        "2024-08-08 10:00:01.000",
    ),
    (
        "BTC/USDT",
        "completed",
        2.0,
        50.0,
        -3.0,
        0.3,
        "2024-08-08 11:00:00.000",
        "2024-08-08 11:00:03.000",
    ),
    (
        "ETH/USDT",
        "completed",
        1.0,
        200.0,
        1.0,
        0.1,
        "2024-08-08 12:00:00.000",
        "2024-08-08 12:00:02.000",
    ),
    (
        "ETH/USDT",
        "failed",
        1.0,
        None,
        None,
        0.0,
        "2024-08-08 13:00:00.000",
        "2024-08-08 13:00:05.000",
    ),
    (
        "BTC/USDT",
        "completed",
        1.0,
        100.0,
        1.0,
        0.1,
        "2024-08-07 09:00:00.000",
        "2024-08-07 09:00:01.000",
    ),
    (
        "BTC/USDT",
        "completed",
        1.0,
        100.0,
        9.0,
        0.1,
        "2024-08-09 00:00:00.000",
        "2024-08-09 00:00:01.000",
    ),
]
# symbol, profit_percent, executed, time
SIGNALS = [
    ("BTC/USDT", 0.2, 1, "2024-08-08 09:59:59"),
    ("BTC/USDT", 0.4, 1, "2024-08-08 10:59:59"),
    ("BTC/USDT", 0.6, 0, "2024-08-08 23:59:59"),
    ("SOL/USDT", 0.3, 0, "2024-08-08 00:00:00"),
    ("BTC/USDT", 5.0, 1, "2024-08-07 23:59:59"),
    ("ETH/USDT", 5.0, 1, "2024-08-09 00:00:00"),
]


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    c = open_database(data_dir, "arbot")
    c.executemany(
        """INSERT INTO trades (symbol, buy_exchange, sell_exchange, planned_buy_price,
               planned_sell_price, quantity, planned_profit, status, actual_buy_price,
               actual_profit, fees_paid, started_at, completed_at)
           VALUES (?, 'a', 'b', 1, 1, ?, 0, ?, ?, ?, ?, ?, ?)""",
        [(s, q, st, px, p, f, a, b) for s, st, q, px, p, f, a, b in TRADES],
    )
    c.executemany(
        """INSERT INTO arbitrage_signals (symbol, buy_exchange, sell_exchange, buy_price,
               sell_price, profit, profit_percent, buy_size, sell_size, confidence, executed,
               timestamp) VALUES (?, 'a', 'b', 1, 1, 0, ?, 1, 1, 1, ?, ?)""",
        [(s, pct, ex, _ts(t)) for s, pct, ex, t in SIGNALS],
    )
    yield c
    c.close()


def test_performance_metrics_match_hand_computation(conn: sqlite3.Connection) -> None:
    """Four trades started on the day, three filled: profits 2, -3, 1 on notionals 100, 100,
    200; cumulative 2, -1, 0 gives a drawdown of 3. Sharpe over the window's two days:
    returns 1/100 (previous day) and 0/400, mean 0.005, sample stdev 0.005·√2."""
    run_rollup(conn, DAY)
    p = performance_of(conn, DAY)
    assert p is not None
    assert (p.total_trades, p.successful_trades) == (4, 3)
    assert p.total_profit == pytest.approx(0.0, abs=1e-12)
    assert p.total_fees == pytest.approx(0.6)
    assert p.avg_profit_percent == pytest.approx((2.0 - 3.0 + 0.5) / 3)
    assert p.max_drawdown == pytest.approx(3.0)
    assert p.win_rate == pytest.approx(2 / 3)
    assert p.avg_trade_duration == pytest.approx(2.0)
    assert p.sharpe_ratio == pytest.approx(0.005 / (0.005 * math.sqrt(2)) * math.sqrt(365))


def test_symbol_stats_match_hand_computation(conn: sqlite3.Connection) -> None:
    """Signals of the day only; volume and score from the symbol's filled trades."""
    run_rollup(conn, DAY)
    rows = {r.symbol: r for r in symbol_stats_of(conn, DAY)}
    assert sorted(rows) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    btc, eth, sol = rows["BTC/USDT"], rows["ETH/USDT"], rows["SOL/USDT"]
    assert (btc.signals_generated, btc.signals_executed) == (3, 2)
    assert btc.avg_spread == pytest.approx(0.4)
    assert btc.max_spread == pytest.approx(0.6)
    assert btc.total_volume == pytest.approx(200.0)
    assert btc.profitability_score == pytest.approx(100 * (2.0 - 3.0) / 200.0)
    assert (eth.signals_generated, eth.total_volume, eth.profitability_score) == (0, 200.0, 0.5)
    assert (sol.signals_generated, sol.signals_executed, sol.total_volume) == (1, 0, 0.0)
    assert sol.profitability_score == 0.0


def test_rerun_updates_rows_in_place_and_drops_vanished_symbols(conn: sqlite3.Connection) -> None:
    """Idempotent per date: one performance row, changed inputs change the same rows."""
    run_rollup(conn, DAY)
    run_rollup(conn, DAY)
    assert conn.execute("SELECT count(*) FROM performance_metrics").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM symbol_stats").fetchone()[0] == 3
    conn.execute("DELETE FROM arbitrage_signals WHERE symbol = 'SOL/USDT'")
    conn.execute("UPDATE trades SET actual_profit = 4.0 WHERE actual_profit = -3.0")
    run_rollup(conn, DAY)
    p = performance_of(conn, DAY)
    assert p is not None and p.total_profit == pytest.approx(7.0)
    assert [r.symbol for r in symbol_stats_of(conn, DAY)] == ["BTC/USDT", "ETH/USDT"]


def test_empty_day_gives_zero_row_without_sharpe(conn: sqlite3.Connection) -> None:
    run_rollup(conn, date(2024, 1, 1))
    p = performance_of(conn, date(2024, 1, 1))
    assert p is not None
    assert (p.total_trades, p.total_profit, p.sharpe_ratio, p.avg_trade_duration) == (
        0,
        0.0,
        None,
        None,
    )


def test_max_drawdown_counts_from_zero_peak() -> None:
    assert max_drawdown([]) == 0.0
    assert max_drawdown([-1.0, -2.0, 5.0, -1.0]) == 3.0
    assert max_drawdown([1.0, 1.0, -0.5]) == 0.5


def test_previous_utc_day_just_after_midnight() -> None:
    assert previous_utc_day(_ts("2024-08-09 00:00:05")) == DAY


def test_daily_rollup_after_midnight_writes_yesterday(
    conn: sqlite3.Connection, data_dir: Path
) -> None:
    """The daemon's job opens its own connection and rolls up the previous UTC day."""
    result = daily_rollup(data_dir, _ts("2024-08-09 00:00:30"))
    assert result.performance.date == "2024-08-08"
    assert conn.execute("SELECT date, total_trades FROM performance_metrics").fetchall() == [
        ("2024-08-08", 4)
    ]
