"""The analysis queries' SQL on SQLite (storage/queries.py runs them)."""

from __future__ import annotations

from arbot.storage.queries import QuerySQL
from arbot.storage.sqlite.signals import STATISTICS

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
# constant SQL (`:x IS NULL OR ...`), so one statement serves every combination. A signal
# found through order books has its trade through them in signal_book_trades.
_SIGNALS = """
SELECT s.timestamp, s.symbol, s.buy_exchange, s.sell_exchange, s.buy_price, s.sell_price,
       s.buy_size, s.sell_size, s.profit, s.profit_percent, s.confidence, s.trend_direction,
       s.executed, d.quantity, d.buy_vwap, d.sell_vwap, d.size_edges
FROM arbitrage_signals AS s LEFT JOIN signal_book_trades AS d ON d.signal_id = s.id
WHERE s.timestamp > :since
  AND (:symbol IS NULL OR s.symbol = :symbol)
  AND (:exchange IS NULL OR s.buy_exchange = :exchange OR s.sell_exchange = :exchange)
  AND (:min_profit IS NULL OR s.profit_percent >= :min_profit)
ORDER BY s.timestamp DESC
LIMIT :limit
"""

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
    WHERE status = 'completed'
      AND started_at >= date(:now, 'unixepoch', '-' || :days || ' days')
    GROUP BY date(started_at)
)
SELECT trade_date, trade_count, winning_trades, daily_profit, avg_profit, total_fees,
       sum(daily_profit) OVER (ORDER BY trade_date) AS cumulative_profit
FROM daily_trades
ORDER BY trade_date
"""

SQL = QuerySQL(
    price_history_asc=_PRICE_HISTORY.format(order="ASC"),
    price_history_desc=_PRICE_HISTORY.format(order="DESC"),
    signals=_SIGNALS,
    statistics=STATISTICS,
    spreads_all=_SPREADS.format(symbol_filter=""),
    spreads_symbol=_SPREADS.format(symbol_filter="AND symbol = :symbol"),
    daily_performance=_DAILY_PERFORMANCE,
)
