-- arbot.db v5: what a signal found through order books (exchanges with depth > 0) adds to
-- its arbitrage_signals row (detector/books.py): the executable trade. A side table rather
-- than columns of arbitrage_signals, which keeps the spec's columns exactly; a signal at
-- the top of book (depth 0) stores nothing more. Its profit and profit_percent in
-- arbitrage_signals are then the executable trade's; prices and sizes stay the top of
-- book's.
CREATE TABLE signal_book_trades (
    signal_id INTEGER PRIMARY KEY REFERENCES arbitrage_signals(id) ON DELETE CASCADE,
    -- q*: the base amount that maximises profit through both books
    quantity REAL NOT NULL,
    -- average prices of the legs at q* (the exchanges' own prices, before fees)
    buy_vwap REAL NOT NULL,
    sell_vwap REAL NOT NULL,
    -- JSON [[notional, net edge percent or null where a book is too thin], ...], one pair
    -- per detector.sizes; NULL when none is configured
    size_edges TEXT
);

-- The best executable profit (quote currency) of an episode while both legs had books;
-- NULL for one at the top of book. Kept across restarts with the open episode.
ALTER TABLE signal_episodes ADD COLUMN peak_profit REAL;
ALTER TABLE open_episodes ADD COLUMN peak_profit REAL;
