"""Analysis queries (`arbot query ...`): take a connection, return plain dicts and lists."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from arbot.storage.signals import signal_statistics

# Over the `tickers` view: symbol = ? resolves through `symbols`, then one primary-key range
# scan of ticks (symbol_id, ts) per symbol; the exchange is a filter on that range.
_PRICE_HISTORY = """
SELECT timestamp, bid, ask, bid_size, ask_size
FROM tickers
WHERE symbol = :symbol AND exchange = :exchange AND timestamp BETWEEN :start AND :end
ORDER BY timestamp {order}
LIMIT :limit
"""

# Newest first: what someone looking at recent signals wants. The optional filters are
# constant SQL (`:x IS NULL OR ...`), so one statement serves every combination.
_SIGNALS = """
SELECT timestamp, symbol, buy_exchange, sell_exchange, buy_price, sell_price, buy_size,
       sell_size, profit, profit_percent, confidence, trend_direction, executed
FROM arbitrage_signals
WHERE timestamp > :since
  AND (:symbol IS NULL OR symbol = :symbol)
  AND (:exchange IS NULL OR buy_exchange = :exchange OR sell_exchange = :exchange)
  AND (:min_profit IS NULL OR profit_percent >= :min_profit)
ORDER BY timestamp DESC
LIMIT :limit
"""

_NAMES = {
    "symbols": "SELECT name FROM symbols ORDER BY name",
    "exchanges": "SELECT name FROM exchanges ORDER BY name",
}

# Valid quotes only: bid > 0 and ask >= bid (a locked book, spread 0, is valid; a crossed one
# is not). stdev (sample) and median are the aggregates storage/functions.py registers on
# every connection; SQLite has no PERCENTILE_CONT/STDEV of its own.
_SPREADS = """
SELECT symbol, exchange, count(*) AS samples,
       avg(spread) AS avg_spread, min(spread) AS min_spread, max(spread) AS max_spread,
       median(spread) AS median_spread, stdev(spread) AS stdev_spread,
       avg(spread_percent) AS avg_spread_percent,
       min(spread_percent) AS min_spread_percent, max(spread_percent) AS max_spread_percent,
       median(spread_percent) AS median_spread_percent,
       stdev(spread_percent) AS stdev_spread_percent
FROM (
    SELECT symbol, exchange, ask - bid AS spread,
           (ask - bid) / ((ask + bid) / 2) * 100 AS spread_percent
    FROM tickers
    WHERE timestamp > :since AND bid > 0 AND ask >= bid {symbol_filter}
)
GROUP BY symbol, exchange
HAVING count(*) >= :min_samples
ORDER BY symbol, avg_spread DESC
"""

# The spec's daily summary, on the caller's clock instead of date('now'); the running total
# starts at the first day of the window.
_DAILY_PERFORMANCE = """
WITH daily_trades AS (
    SELECT date(started_at) AS trade_date,
           count(*) AS trade_count,
           sum(actual_profit > 0) AS winning_trades,
           sum(actual_profit) AS daily_profit,
           avg(actual_profit) AS avg_profit,
           sum(fees_paid) AS total_fees
    FROM trades
    WHERE status = 'completed' AND started_at >= date(:now, 'unixepoch', :window)
    GROUP BY date(started_at)
)
SELECT trade_date, trade_count, winning_trades, daily_profit, avg_profit, total_fees,
       sum(daily_profit) OVER (ORDER BY trade_date) AS cumulative_profit
FROM daily_trades
ORDER BY trade_date
"""


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def price_history(
    conn: sqlite3.Connection,
    symbol: str,
    exchange: str,
    *,
    start: float,
    end: float,
    limit: int = 100_000,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Quotes of one (symbol, exchange) with start <= timestamp <= end, oldest first unless
    `newest_first`."""
    params = {"symbol": symbol, "exchange": exchange, "start": start, "end": end, "limit": limit}
    sql = _PRICE_HISTORY.format(order="DESC" if newest_first else "ASC")
    return _dicts(conn.execute(sql, params))


def known_names(conn: sqlite3.Connection, table: Literal["symbols", "exchanges"]) -> list[str]:
    """Every symbol or exchange name arbot.db has stored data for."""
    return [row[0] for row in conn.execute(_NAMES[table])]


def list_signals(
    conn: sqlite3.Connection,
    since: float,
    *,
    symbol: str | None = None,
    exchange: str | None = None,
    min_profit_percent: float | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Signals newer than `since`, newest first; `exchange` matches either leg."""
    params = {
        "since": since,
        "symbol": symbol,
        "exchange": exchange,
        "min_profit": min_profit_percent,
        "limit": limit,
    }
    rows = _dicts(conn.execute(_SIGNALS, params))
    for row in rows:
        row["executed"] = bool(row["executed"])
    return rows


def spread_analysis(
    conn: sqlite3.Connection,
    since: float,
    symbol: str | None = None,
    min_samples: int = 100,
) -> list[dict[str, Any]]:
    """Spread statistics per (symbol, exchange) over quotes newer than `since`; pairs with
    fewer than `min_samples` valid quotes are left out."""
    # The two variants are constants: a filter on symbol uses the (symbol_id, ts) key.
    sql = _SPREADS.format(symbol_filter="AND symbol = :symbol" if symbol else "")
    params: dict[str, Any] = {"since": since, "min_samples": min_samples}
    if symbol:
        params["symbol"] = symbol
    return _dicts(conn.execute(sql, params))


def signal_stats(conn: sqlite3.Connection, period_hours: float, now: float) -> dict[str, Any]:
    """The spec's signal statistics over the last `period_hours` (storage/signals.py)."""
    return signal_statistics(conn, period_hours, now)


def daily_performance(conn: sqlite3.Connection, days: int, now: float) -> list[dict[str, Any]]:
    """Completed trades per UTC day over the last `days` days, with the cumulative profit."""
    return _dicts(conn.execute(_DAILY_PERFORMANCE, {"now": now, "window": f"-{int(days)} days"}))
