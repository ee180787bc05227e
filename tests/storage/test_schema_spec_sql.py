"""The spec's SQL runs unchanged on our schema (tickers through the view and its INSTEAD OF
trigger), with the spec's semantics, and its tickers queries are served by an index."""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbot.storage.schema import open_database

# Verbatim from the spec (PriceDataManager.insert_ticker / bulk_insert_tickers).
INSERT_TICKER = """
        INSERT OR REPLACE INTO tickers 
        (symbol, exchange, bid, ask, bid_size, ask_size, timestamp)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """  # noqa: W291 (verbatim)
PLAIN_INSERT = INSERT_TICKER.replace("INSERT OR REPLACE", "INSERT")
# Verbatim from the spec (HistoricalDataQuery.get_price_history).
PRICE_HISTORY = """
        SELECT timestamp, bid, ask, bid_size, ask_size
        FROM tickers
        WHERE symbol = ? AND exchange = ?
        AND timestamp BETWEEN ? AND ?
        ORDER BY timestamp ASC
        """
# Verbatim from the spec (HistoricalDataQuery.get_spread_analysis); STDEV is ours.
SPREAD_ANALYSIS = """
        WITH spread_data AS (
            SELECT 
                symbol,
                timestamp,
                ask - bid as spread,
                (ask - bid) / ((ask + bid) / 2) * 100 as spread_percent
            FROM tickers
            WHERE symbol = ?
            ORDER BY timestamp DESC
            LIMIT ?
        )
        SELECT 
            AVG(spread) as avg_spread,
            MIN(spread) as min_spread,
            MAX(spread) as max_spread,
            AVG(spread_percent) as avg_spread_percent,
            STDEV(spread_percent) as spread_volatility
        FROM spread_data
        """  # noqa: W291 (verbatim)
# The spec's "Optimized Spread Analysis", corrected for SQLite: PERCENTILE_CONT(0.5) WITHIN
# GROUP (ORDER BY spread) is not SQLite syntax; MEDIAN(spread) is the same statistic.
WINDOW_SPREADS = """
SELECT
    symbol,
    exchange,
    AVG(spread) as avg_spread,
    MEDIAN(spread) as median_spread,
    STDEV(spread) as spread_volatility
FROM (
    SELECT
        symbol,
        exchange,
        ask - bid as spread
    FROM tickers
    WHERE timestamp > ? -- Last 24 hours
    AND bid > 0 AND ask > bid -- Valid prices only
) spread_data
GROUP BY symbol, exchange
HAVING COUNT(*) >= 100 -- Minimum data points
ORDER BY avg_spread DESC
"""
# The trigger bug this file found (reported with its fix): the outer statement's conflict
# clause overrides those inside an INSTEAD OF trigger, so under the spec's INSERT OR REPLACE the
# trigger's `INSERT OR IGNORE INTO symbols/exchanges` replaces the name's row with a new id,
# orphaning every earlier tick of that symbol or exchange (they vanish from the view).
# The spec's retention delete (DataRetentionManager._cleanup_tickers).
CLEANUP = "DELETE FROM tickers WHERE timestamp < ?"

Row = tuple[str, str, float, float, float | None, float | None, float]


def ticks(symbol: str, exchange: str, n: int, t0: float = 1000.0) -> list[Row]:
    """`n` one-second ticks whose spread grows irregularly, so stdev and median differ."""
    return [
        (symbol, exchange, 100.0 + i, 100.0 + i + 0.01 * (i % 7) + 0.001 * i, 1.0, 2.0, t0 + i)
        for i in range(n)
    ]


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    c = open_database(data_dir, "arbot")
    yield c
    c.close()


@pytest.fixture
def filled(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Distinct keys, so a plain INSERT stores what the spec's INSERT OR REPLACE must store
    (the replace semantics are pinned by their own tests)."""
    rows = [
        *ticks("BTC/USDT", "binance", 150),
        *ticks("BTC/USDT", "okx", 120),
        *ticks("ETH/USDT", "binance", 50),
    ]
    conn.executemany(PLAIN_INSERT, rows)
    return conn


def test_insert_ticker_through_the_view(conn: sqlite3.Connection) -> None:
    """The spec's insert_ticker stores a row that reads back with the spec's columns."""
    conn.execute(INSERT_TICKER, ("BTC/USDT", "binance", 100.5, 100.7, 1.5, None, 1700000000.25))
    rows = conn.execute(
        "SELECT symbol, exchange, bid, ask, bid_size, ask_size, timestamp FROM tickers"
    ).fetchall()
    assert rows == [("BTC/USDT", "binance", 100.5, 100.7, 1.5, None, 1700000000.25)]
    (created_at,) = conn.execute("SELECT created_at FROM tickers").fetchone()
    assert isinstance(created_at, str) and len(created_at) == len("2024-01-01 00:00:00")


def test_bulk_insert_tickers_keeps_every_row(conn: sqlite3.Connection) -> None:
    """The spec's bulk_insert_tickers (INSERT OR REPLACE, executemany) stores every tick."""
    rows = [*ticks("BTC/USDT", "binance", 5), *ticks("BTC/USDT", "okx", 5)]
    conn.executemany(INSERT_TICKER, rows)
    stored = conn.execute(
        "SELECT symbol, exchange, bid, ask, bid_size, ask_size, timestamp FROM tickers "
        "ORDER BY exchange, timestamp"
    ).fetchall()
    assert stored == rows


def test_same_symbol_exchange_timestamp_replaces(conn: sqlite3.Connection) -> None:
    """UNIQUE(symbol, exchange, timestamp) with INSERT OR REPLACE: the later row wins, no
    duplicate; another exchange or timestamp is a distinct row."""
    conn.executemany(
        INSERT_TICKER,
        [
            ("BTC/USDT", "binance", 1.0, 2.0, None, None, 10.0),
            ("BTC/USDT", "binance", 3.0, 4.0, 5.0, 6.0, 10.0),
            ("BTC/USDT", "okx", 1.0, 2.0, None, None, 10.0),
            ("BTC/USDT", "binance", 1.0, 2.0, None, None, 11.0),
        ],
    )
    rows = conn.execute(
        "SELECT exchange, timestamp, bid, ask, bid_size FROM tickers ORDER BY exchange, timestamp"
    ).fetchall()
    assert rows == [
        ("binance", 10.0, 3.0, 4.0, 5.0),
        ("binance", 11.0, 1.0, 2.0, None),
        ("okx", 10.0, 1.0, 2.0, None),
    ]
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (3,)


def test_plain_insert_of_a_duplicate_fails_like_the_spec_table(conn: sqlite3.Connection) -> None:
    """A plain INSERT of an existing (symbol, exchange, timestamp) violates the UNIQUE
    constraint, as on the spec's table, instead of silently replacing."""
    insert = PLAIN_INSERT
    conn.execute(insert, ("BTC/USDT", "binance", 1.0, 2.0, None, None, 10.0))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(insert, ("BTC/USDT", "binance", 3.0, 4.0, None, None, 10.0))


def test_created_at_is_the_insertion_time(conn: sqlite3.Connection) -> None:
    """created_at of a row inserted through the view is when it was inserted, as the spec's
    DEFAULT CURRENT_TIMESTAMP, not the tick's (possibly old) timestamp."""
    conn.execute(INSERT_TICKER, ("BTC/USDT", "binance", 1.0, 2.0, None, None, 1_000_000_000.0))
    row = conn.execute(
        "SELECT abs(julianday(created_at) - julianday('now')) * 86400 FROM tickers"
    ).fetchone()
    assert row[0] < 60


@pytest.mark.parametrize("column", ["symbol", "exchange", "bid", "ask", "timestamp"])
def test_not_null_columns_are_enforced_through_the_view(
    conn: sqlite3.Connection, column: str
) -> None:
    """The spec's NOT NULL columns reject NULL through the view, as the spec table would."""
    values = dict(
        zip(
            ["symbol", "exchange", "bid", "ask", "bid_size", "ask_size", "timestamp"],
            ticks("BTC/USDT", "binance", 1)[0],
            strict=True,
        )
    )
    values[column] = None
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        conn.execute(INSERT_TICKER, tuple(values.values()))
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (0,)


def test_price_history(filled: sqlite3.Connection) -> None:
    """The spec's price history returns one pair's window, oldest first."""
    rows = filled.execute(PRICE_HISTORY, ("BTC/USDT", "okx", 1010.0, 1014.0)).fetchall()
    expected = [(r[6], r[2], r[3], r[4], r[5]) for r in ticks("BTC/USDT", "okx", 15)[10:15]]
    assert rows == expected


def test_spread_analysis_with_stdev(filled: sqlite3.Connection) -> None:
    """The spec's spread analysis (latest `limit` ticks of a symbol) computes sample stdev."""
    limit = 100
    rows = sorted(
        [*ticks("BTC/USDT", "binance", 150), *ticks("BTC/USDT", "okx", 120)],
        key=lambda r: r[6],
        reverse=True,
    )[:limit]
    spreads = [r[3] - r[2] for r in rows]
    percents = [(r[3] - r[2]) / ((r[3] + r[2]) / 2) * 100 for r in rows]
    result = filled.execute(SPREAD_ANALYSIS, ("BTC/USDT", limit)).fetchone()
    assert result == pytest.approx(
        (
            statistics.fmean(spreads),
            min(spreads),
            max(spreads),
            statistics.fmean(percents),
            statistics.stdev(percents),
        )
    )


def test_window_spreads_with_median_and_stdev(filled: sqlite3.Connection) -> None:
    """The corrected optimized spread analysis: per pair with >= 100 points in the window."""
    since = 1000.0 + 9.5  # drops the first 10 ticks of each pair
    result = filled.execute(WINDOW_SPREADS, (since,)).fetchall()
    expected = []
    for exchange, n in (("binance", 150), ("okx", 120)):
        spreads = [r[3] - r[2] for r in ticks("BTC/USDT", exchange, n) if r[6] > since]
        expected.append(
            (
                "BTC/USDT",
                exchange,
                statistics.fmean(spreads),
                statistics.median(spreads),
                statistics.stdev(spreads),
            )
        )
    expected.sort(key=lambda r: r[2], reverse=True)
    assert [r[:2] for r in result] == [r[:2] for r in expected]  # okx has 110 points, kept
    for got, want in zip(result, expected, strict=True):
        assert got[2:] == pytest.approx(want[2:])


def test_cleanup_deletes_old_ticks_through_the_view(filled: sqlite3.Connection) -> None:
    """The spec's retention DELETE removes exactly the older ticks (INSTEAD OF DELETE)."""
    filled.execute(CLEANUP, (1100.0,))
    remaining = filled.execute("SELECT min(timestamp), count(*) FROM tickers").fetchone()
    assert remaining == (1100.0, 50 + 20)


def plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


@pytest.fixture(params=["empty", "analyzed"])
def planned(request: pytest.FixtureRequest, conn: sqlite3.Connection) -> sqlite3.Connection:
    """The planner's choices on a fresh database and on a filled one with statistics."""
    if request.param == "analyzed":
        for i, symbol in enumerate(("BTC/USDT", "ETH/USDT", "SOL/USDT")):
            for exchange in ("binance", "okx", "kraken", "bybit"):
                conn.executemany(PLAIN_INSERT, ticks(symbol, exchange, 300, t0=1000.0 + i))
        conn.execute("ANALYZE")
    return conn


def test_price_history_searches_the_primary_key(planned: sqlite3.Connection) -> None:
    """Price history is a range search on ticks' key, already in timestamp order."""
    steps = plan(planned, PRICE_HISTORY, ("BTC/USDT", "okx", 0.0, 1.0))
    assert any(s.startswith("SEARCH ticks USING PRIMARY KEY (symbol_id=? AND ts") for s in steps)
    assert not any(s.startswith("SCAN t") for s in steps), steps
    assert not any("TEMP B-TREE" in s for s in steps), steps


def test_latest_ticks_of_a_symbol_search_the_primary_key(planned: sqlite3.Connection) -> None:
    steps = plan(planned, SPREAD_ANALYSIS, ("BTC/USDT", 100))
    assert any(s.startswith("SEARCH ticks USING PRIMARY KEY (symbol_id=?)") for s in steps), steps
    assert not any(s.startswith("SCAN t") or "TEMP B-TREE" in s for s in steps), steps


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (WINDOW_SPREADS, (1000.0,)),
        (CLEANUP.replace("DELETE", "SELECT *"), (1000.0,)),
        ("SELECT count(*) FROM tickers WHERE timestamp >= ? AND timestamp < ?", (1.0, 2.0)),
    ],
    ids=["window-spreads", "cleanup", "time-range"],
)
def test_time_window_queries_search_ticks(
    planned: sqlite3.Connection, sql: str, params: tuple[object, ...]
) -> None:
    """Time-only filters search ticks' key once per symbol (the view's fixed join order),
    never scan it."""
    steps = plan(planned, sql, params)
    assert any(s.startswith("SEARCH ticks USING PRIMARY KEY (symbol_id=? AND ts") for s in steps)
    assert not any(s.startswith("SCAN t") for s in steps), steps


# Verbatim from the spec (SignalManager, TradeManager, "Efficient Aggregation Queries").
SPEC_STATEMENTS = {
    "save_signal": (
        """
        INSERT INTO arbitrage_signals
        (symbol, buy_exchange, sell_exchange, buy_price, sell_price,
         profit, profit_percent, buy_size, sell_size, confidence,
         trend_direction, timestamp)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        ("BTC/USDT", "okx", "binance", 100.0, 101.0, 1.0, 1.0, 1.0, 1.0, 0.9, "up", 5.0),
    ),
    "mark_signal_executed": ("UPDATE arbitrage_signals SET executed = TRUE WHERE id = ?", (1,)),
    "create_trade": (
        """
        INSERT INTO trades
        (signal_id, symbol, buy_exchange, sell_exchange,
         planned_buy_price, planned_sell_price, quantity, planned_profit, status)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')
        """,
        (1, "BTC/USDT", "okx", "binance", 100.0, 101.0, 1.0, 1.0),
    ),
    "update_trade_execution": (
        """
        UPDATE trades SET
            buy_order_id = ?, sell_order_id = ?,
            actual_buy_price = ?, actual_sell_price = ?,
            actual_profit = ?, fees_paid = ?, slippage = ?,
            status = ?, completed_at = CURRENT_TIMESTAMP
        WHERE id = ?
        """,
        ("b1", "s1", 100.0, 101.0, 0.8, 0.2, 0.0, "completed", 1),
    ),
}
DAILY_SUMMARY = """
WITH daily_trades AS (
    SELECT 
        DATE(started_at) as trade_date,
        COUNT(*) as trade_count,
        SUM(actual_profit) as daily_profit,
        AVG(actual_profit) as avg_profit,
        SUM(fees_paid) as total_fees
    FROM trades
    WHERE status = 'completed'
    AND started_at >= date('now', '-30 days')
    GROUP BY DATE(started_at)
)
SELECT 
    trade_date,
    trade_count,
    daily_profit,
    avg_profit,
    total_fees,
    SUM(daily_profit) OVER (ORDER BY trade_date) as cumulative_profit
FROM daily_trades
ORDER BY trade_date;
"""  # noqa: W291 (verbatim)


def test_spec_trading_statements_run(conn: sqlite3.Connection) -> None:
    """Signals and trades written and read with the spec's own statements (foreign keys on)."""
    for sql, params in SPEC_STATEMENTS.values():
        assert conn.execute(sql, params).rowcount == 1
    assert conn.execute("SELECT executed FROM arbitrage_signals").fetchone() == (1,)
    summary = conn.execute(DAILY_SUMMARY).fetchall()
    assert [row[1:] for row in summary] == [(1, 0.8, 0.8, 0.2, 0.8)]
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        conn.execute(
            SPEC_STATEMENTS["create_trade"][0], (99, *SPEC_STATEMENTS["create_trade"][1][1:])
        )
