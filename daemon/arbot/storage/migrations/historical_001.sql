-- historical.db v1: hourly bars archived from ticks before retention deletes them.
CREATE TABLE ohlcv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    exchange TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    open_time INTEGER NOT NULL,
    close_time INTEGER NOT NULL,
    open_price REAL NOT NULL,
    high_price REAL NOT NULL,
    low_price REAL NOT NULL,
    close_price REAL NOT NULL,
    volume REAL NOT NULL,
    quote_volume REAL,
    trades_count INTEGER,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(symbol, exchange, timeframe, open_time)
);

CREATE INDEX idx_ohlcv_symbol_timeframe ON ohlcv(symbol, timeframe);
CREATE INDEX idx_ohlcv_open_time ON ohlcv(open_time);

-- Additive: retention's watermark. Bars for hours before `archived_until` are complete, so a
-- re-run after a crash never recomputes (and never duplicates) them; ticks below it may be
-- deleted. Updated in the same transaction as the bars it covers.
CREATE TABLE archive_state (
    timeframe TEXT PRIMARY KEY,
    archived_until INTEGER NOT NULL
);
