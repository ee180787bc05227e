-- PostgreSQL v4: the executable trade of signals found through order books, and the best
-- executable profit of episodes, as arbot_005.sql on SQLite.
CREATE TABLE signal_book_trades (
    signal_id bigint PRIMARY KEY REFERENCES arbitrage_signals(id) ON DELETE CASCADE,
    quantity double precision NOT NULL,
    buy_vwap double precision NOT NULL,
    sell_vwap double precision NOT NULL,
    size_edges text
);

ALTER TABLE signal_episodes ADD COLUMN peak_profit double precision;
ALTER TABLE open_episodes ADD COLUMN peak_profit double precision;
