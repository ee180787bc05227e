"""The spec's SQL (tests/storage/test_schema_spec_sql.py holds it verbatim) runs with the
spec's semantics on both backends. On PostgreSQL only the dialect differs: `%s` for `?`,
INSERT for INSERT OR REPLACE (the view's trigger upserts), and the spec's own
PERCENTILE_CONT where SQLite needs our MEDIAN."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

import pytest

from tests.postgres.backends import Backend, Db
from tests.storage.test_schema_spec_sql import (
    CLEANUP,
    DAILY_SUMMARY,
    INSERT_TICKER,
    PRICE_HISTORY,
    SPEC_STATEMENTS,
    SPREAD_ANALYSIS,
    WINDOW_SPREADS,
    ticks,
)

# The spec's "Optimized Spread Analysis" as written (PERCENTILE_CONT is PostgreSQL's).
WINDOW_SPREADS_PG = WINDOW_SPREADS.replace(
    "MEDIAN(spread)", "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY spread)"
)


@pytest.fixture
def db(backend: Backend) -> Iterator[Db]:
    with backend.db() as db:
        yield db


@pytest.fixture
def filled(db: Db) -> Db:
    db.executemany(
        INSERT_TICKER,
        [
            *ticks("BTC/USDT", "binance", 150),
            *ticks("BTC/USDT", "okx", 120),
            *ticks("ETH/USDT", "binance", 50),
        ],
    )
    return db


def test_bulk_insert_tickers_keeps_every_row(db: Db) -> None:
    rows = [*ticks("BTC/USDT", "binance", 5), *ticks("BTC/USDT", "okx", 5)]
    db.executemany(INSERT_TICKER, rows)
    stored = db.execute(
        "SELECT symbol, exchange, bid, ask, bid_size, ask_size, timestamp FROM tickers "
        "ORDER BY exchange, timestamp"
    )
    assert stored == rows


def test_same_symbol_exchange_timestamp_replaces(db: Db) -> None:
    db.executemany(
        INSERT_TICKER,
        [
            ("BTC/USDT", "binance", 1.0, 2.0, None, None, 10.0),
            ("BTC/USDT", "binance", 3.0, 4.0, 5.0, 6.0, 10.0),
            ("BTC/USDT", "okx", 1.0, 2.0, None, None, 10.0),
        ],
    )
    rows = db.execute("SELECT exchange, timestamp, bid, bid_size FROM tickers ORDER BY exchange")
    assert rows == [("binance", 10.0, 3.0, 5.0), ("okx", 10.0, 1.0, None)]
    assert db.execute("SELECT count(*) FROM ticks") == [(2,)]


@pytest.mark.parametrize("column", [0, 1, 2, 3, 6], ids=["symbol", "exchange", "bid", "ask", "ts"])
def test_not_null_columns_are_enforced_through_the_view(db: Db, column: int) -> None:
    values = list(ticks("BTC/USDT", "binance", 1)[0])
    values[column] = None
    with pytest.raises(Exception, match=r"(?i)not[ -]null"):
        db.execute(INSERT_TICKER, values)


def test_price_history(filled: Db) -> None:
    rows = filled.execute(PRICE_HISTORY, ("BTC/USDT", "okx", 1010.0, 1014.0))
    assert rows == [(r[6], r[2], r[3], r[4], r[5]) for r in ticks("BTC/USDT", "okx", 15)[10:]]


def test_spread_analysis_with_stdev(filled: Db) -> None:
    limit = 100
    rows = sorted(
        [*ticks("BTC/USDT", "binance", 150), *ticks("BTC/USDT", "okx", 120)],
        key=lambda r: r[6],
        reverse=True,
    )[:limit]
    spreads = [r[3] - r[2] for r in rows]
    percents = [(r[3] - r[2]) / ((r[3] + r[2]) / 2) * 100 for r in rows]
    (result,) = filled.execute(SPREAD_ANALYSIS, ("BTC/USDT", limit))
    expected = (
        statistics.fmean(spreads),
        min(spreads),
        max(spreads),
        statistics.fmean(percents),
        statistics.stdev(percents),
    )
    assert result == pytest.approx(expected)


def test_window_spreads_with_median_and_stdev(backend: Backend, filled: Db) -> None:
    since = 1000.0 + 9.5
    sql = WINDOW_SPREADS_PG if backend.name == "postgresql" else WINDOW_SPREADS
    result = filled.execute(sql, (since,))
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
    assert [r[:2] for r in result] == [r[:2] for r in expected]
    for got, want in zip(result, expected, strict=True):
        assert got[2:] == pytest.approx(want[2:])


def test_cleanup_deletes_old_ticks_through_the_view(filled: Db) -> None:
    filled.execute(CLEANUP, (1100.0,))
    assert filled.execute("SELECT min(timestamp), count(*) FROM tickers") == [(1100.0, 70)]


def test_spec_trading_statements_run(db: Db) -> None:
    """Signals and trades with the spec's own statements; the daily summary; the foreign
    key from trades to signals holds."""
    for sql, params in SPEC_STATEMENTS.values():
        db.execute(sql, params)
    assert db.execute("SELECT executed FROM arbitrage_signals") in ([(1,)], [(True,)])
    summary = db.execute(DAILY_SUMMARY)
    assert [tuple(row[1:]) for row in summary] == [(1, 0.8, 0.8, 0.2, 0.8)]
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        db.execute(
            SPEC_STATEMENTS["create_trade"][0], (99, *SPEC_STATEMENTS["create_trade"][1][1:])
        )
