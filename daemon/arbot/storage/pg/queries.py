"""The analysis queries' SQL on PostgreSQL (storage/queries.py runs them): PostgreSQL's own
aggregates (percentile_cont, stddev_samp)."""

from __future__ import annotations

from arbot.storage.queries import QuerySQL

_PRICE_HISTORY = {
    order: f"""SELECT timestamp, bid, ask, bid_size, ask_size FROM tickers
    WHERE symbol = %(symbol)s AND exchange = %(exchange)s
      AND timestamp BETWEEN %(start)s AND %(end)s
    ORDER BY timestamp {order} LIMIT %(limit)s"""
    for order in ("ASC", "DESC")
}
_SIGNALS = """SELECT s.timestamp, s.symbol, s.buy_exchange, s.sell_exchange, s.buy_price,
       s.sell_price, s.buy_size, s.sell_size, s.profit, s.profit_percent, s.confidence,
       s.trend_direction, s.executed, d.quantity, d.buy_vwap, d.sell_vwap, d.size_edges
FROM arbitrage_signals AS s LEFT JOIN signal_book_trades AS d ON d.signal_id = s.id
WHERE s.timestamp > %(since)s
  AND (%(symbol)s::text IS NULL OR s.symbol = %(symbol)s)
  AND (%(exchange)s::text IS NULL OR s.buy_exchange = %(exchange)s
       OR s.sell_exchange = %(exchange)s)
  AND (%(min_profit)s::float8 IS NULL OR s.profit_percent >= %(min_profit)s)
ORDER BY s.timestamp DESC
LIMIT %(limit)s"""
_STATISTICS = """SELECT count(*), count(CASE WHEN executed THEN 1 END), avg(profit_percent),
    max(profit_percent), avg(confidence) FROM arbitrage_signals WHERE timestamp > %s"""
_SPREADS = """SELECT symbol, exchange, count(*) AS samples,
       avg(spread) AS avg_spread, min(spread) AS min_spread, max(spread) AS max_spread,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY spread) AS median_spread,
       stddev_samp(spread) AS stdev_spread,
       avg(spread_percent) AS avg_spread_percent,
       min(spread_percent) AS min_spread_percent, max(spread_percent) AS max_spread_percent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY spread_percent) AS median_spread_percent,
       stddev_samp(spread_percent) AS stdev_spread_percent
FROM (
    SELECT symbol, exchange, ask - bid AS spread,
           (ask - bid) / ((ask + bid) / 2) * 100 AS spread_percent
    FROM tickers
    WHERE timestamp > %(since)s AND bid > 0 AND ask >= bid
      AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
) AS q
GROUP BY symbol, exchange
HAVING count(*) >= %(min_samples)s
ORDER BY symbol, avg_spread DESC"""
_DAILY_PERFORMANCE = """WITH daily_trades AS (
    SELECT started_at::date AS trade_date, count(*) AS trade_count,
           count(*) FILTER (WHERE actual_profit > 0) AS winning_trades,
           sum(actual_profit) AS daily_profit, avg(actual_profit) AS avg_profit,
           sum(fees_paid) AS total_fees
    FROM trades
    WHERE status = 'completed'
      AND started_at >= (to_timestamp(%(now)s) AT TIME ZONE 'UTC')::date - %(days)s
    GROUP BY started_at::date
)
SELECT trade_date::text AS trade_date, trade_count, winning_trades, daily_profit, avg_profit,
       total_fees, sum(daily_profit) OVER (ORDER BY trade_date) AS cumulative_profit
FROM daily_trades ORDER BY trade_date"""


SQL = QuerySQL(
    price_history_asc=_PRICE_HISTORY["ASC"],
    price_history_desc=_PRICE_HISTORY["DESC"],
    signals=_SIGNALS,
    statistics=_STATISTICS,
    spreads_all=_SPREADS,
    spreads_symbol=_SPREADS,
    daily_performance=_DAILY_PERFORMANCE,
)
