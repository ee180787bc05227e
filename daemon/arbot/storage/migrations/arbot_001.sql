-- arbot.db v1: live market data and trading records.
--
-- Ticks are stored physically in `ticks`, and served to the spec's SQL through the view
-- `tickers` (same column names, INSERT through an INSTEAD OF trigger). Why:
--   * the spec's table (rowid + UNIQUE(symbol, exchange, timestamp) + 4 indexes led by symbol
--     or (symbol, exchange)) dirties one leaf page per (symbol, exchange) pair and index in
--     every batch: ~7k rows/s and ~258 bytes/row (../shared/perf-notes.md, and `make bench`);
--   * `ticks` is one WITHOUT ROWID B-tree keyed (symbol_id, ts, exchange_id): one insertion
--     point per symbol, integer dimension ids instead of repeated TEXT, no separate rowid
--     tree. The key enforces UNIQUE(symbol, exchange, timestamp) exactly (column order of a
--     unique key does not change what it forbids);
--   * `ticks_ts` (ts-led) serves the spec's time-only filters (retention, spread window)
--     and is append-only, so it costs little;
--   * created_at is derived from the receive time (stored as a small ms delta to ts).
-- Measured effect: `python -m bench layout` (bench/layout.py), quoted in README.
-- Trade-off: price history for one (symbol, exchange) reads the window's rows of all
-- exchanges of that symbol (still a range scan on the primary key; measured in bench).
-- `id` of the spec's table is not kept: nothing in the spec's SQL reads it.

CREATE TABLE symbols (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE exchanges (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE ticks (
    symbol_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    exchange_id INTEGER NOT NULL,
    bid REAL NOT NULL,
    ask REAL NOT NULL,
    bid_size REAL,
    ask_size REAL,
    recv_delta_ms INTEGER,
    PRIMARY KEY (symbol_id, ts, exchange_id)
) WITHOUT ROWID;

CREATE INDEX ticks_ts ON ticks(ts);

CREATE VIEW tickers (symbol, exchange, bid, ask, bid_size, ask_size, timestamp, created_at) AS
SELECT s.name, e.name, t.bid, t.ask, t.bid_size, t.ask_size, t.ts,
       datetime(t.ts + coalesce(t.recv_delta_ms, 0) / 1000.0, 'unixepoch')
FROM ticks AS t
JOIN symbols AS s ON s.id = t.symbol_id
JOIN exchanges AS e ON e.id = t.exchange_id;

-- The caller's conflict clause (the spec's INSERT OR REPLACE) overrides every clause inside a
-- trigger, so: the dimension inserts cannot conflict at all (an OR IGNORE here runs as OR
-- REPLACE: the name gets a new id and its earlier ticks drop out of the view), and the ticks
-- insert takes the caller's policy, as the spec's table would (OR REPLACE replaces, OR IGNORE
-- keeps the old row, a plain INSERT of a duplicate fails). created_at is the insertion time,
-- as the spec's DEFAULT CURRENT_TIMESTAMP.
CREATE TRIGGER tickers_insert INSTEAD OF INSERT ON tickers
BEGIN
    INSERT INTO symbols(name) SELECT NEW.symbol
    WHERE NOT EXISTS (SELECT 1 FROM symbols WHERE name = NEW.symbol);
    INSERT INTO exchanges(name) SELECT NEW.exchange
    WHERE NOT EXISTS (SELECT 1 FROM exchanges WHERE name = NEW.exchange);
    INSERT INTO ticks(symbol_id, ts, exchange_id, bid, ask, bid_size, ask_size, recv_delta_ms)
    VALUES ((SELECT id FROM symbols WHERE name = NEW.symbol), NEW.timestamp,
            (SELECT id FROM exchanges WHERE name = NEW.exchange),
            NEW.bid, NEW.ask, NEW.bid_size, NEW.ask_size,
            CAST(round(((julianday('now') - 2440587.5) * 86400.0 - NEW.timestamp) * 1000)
                 AS INTEGER));
END;

CREATE TRIGGER tickers_delete INSTEAD OF DELETE ON tickers
BEGIN
    DELETE FROM ticks
    WHERE symbol_id = (SELECT id FROM symbols WHERE name = OLD.symbol)
      AND exchange_id = (SELECT id FROM exchanges WHERE name = OLD.exchange)
      AND ts = OLD.timestamp;
END;

CREATE TABLE arbitrage_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    buy_exchange TEXT NOT NULL,
    sell_exchange TEXT NOT NULL,
    buy_price REAL NOT NULL,
    sell_price REAL NOT NULL,
    profit REAL NOT NULL,
    profit_percent REAL NOT NULL,
    buy_size REAL NOT NULL,
    sell_size REAL NOT NULL,
    confidence REAL NOT NULL,
    trend_direction TEXT,
    executed BOOLEAN DEFAULT FALSE,
    timestamp REAL NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_signals_symbol ON arbitrage_signals(symbol);
CREATE INDEX idx_signals_timestamp ON arbitrage_signals(timestamp);
CREATE INDEX idx_signals_profit ON arbitrage_signals(profit_percent);
CREATE INDEX idx_signals_composite ON arbitrage_signals(symbol, profit_percent, timestamp);
CREATE INDEX idx_signals_executed ON arbitrage_signals(symbol, profit_percent, timestamp)
WHERE executed = TRUE;

CREATE TABLE trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id INTEGER,
    symbol TEXT NOT NULL,
    buy_exchange TEXT NOT NULL,
    sell_exchange TEXT NOT NULL,
    buy_order_id TEXT,
    sell_order_id TEXT,
    planned_buy_price REAL NOT NULL,
    planned_sell_price REAL NOT NULL,
    actual_buy_price REAL,
    actual_sell_price REAL,
    quantity REAL NOT NULL,
    planned_profit REAL NOT NULL,
    actual_profit REAL,
    fees_paid REAL DEFAULT 0,
    slippage REAL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    error_message TEXT,
    started_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    completed_at DATETIME,
    FOREIGN KEY (signal_id) REFERENCES arbitrage_signals(id)
);

CREATE INDEX idx_trades_symbol ON trades(symbol);
CREATE INDEX idx_trades_status ON trades(status);
CREATE INDEX idx_trades_started_at ON trades(started_at);
CREATE INDEX idx_trades_composite ON trades(symbol, status, started_at);
CREATE INDEX idx_trades_successful ON trades(symbol, actual_profit, completed_at)
WHERE status = 'completed' AND actual_profit > 0;
CREATE INDEX idx_trades_signal ON trades(signal_id);

CREATE TABLE balances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange TEXT NOT NULL,
    asset TEXT NOT NULL,
    free_balance REAL NOT NULL DEFAULT 0,
    locked_balance REAL NOT NULL DEFAULT 0,
    total_balance REAL GENERATED ALWAYS AS (free_balance + locked_balance),
    timestamp REAL NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(exchange, asset, timestamp)
);

CREATE INDEX idx_balances_exchange_asset ON balances(exchange, asset);
CREATE INDEX idx_balances_timestamp ON balances(timestamp);
CREATE INDEX idx_balances_composite ON balances(exchange, asset, timestamp);

CREATE TABLE performance_metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date DATE NOT NULL,
    total_trades INTEGER DEFAULT 0,
    successful_trades INTEGER DEFAULT 0,
    total_profit REAL DEFAULT 0,
    total_fees REAL DEFAULT 0,
    avg_profit_percent REAL DEFAULT 0,
    max_drawdown REAL DEFAULT 0,
    sharpe_ratio REAL,
    win_rate REAL DEFAULT 0,
    avg_trade_duration REAL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(date)
);

CREATE INDEX idx_metrics_date ON performance_metrics(date);

CREATE TABLE symbol_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    date DATE NOT NULL,
    signals_generated INTEGER DEFAULT 0,
    signals_executed INTEGER DEFAULT 0,
    avg_spread REAL DEFAULT 0,
    max_spread REAL DEFAULT 0,
    total_volume REAL DEFAULT 0,
    profitability_score REAL DEFAULT 0,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(symbol, date)
);

CREATE INDEX idx_symbol_stats_symbol ON symbol_stats(symbol);
CREATE INDEX idx_symbol_stats_date ON symbol_stats(date);

-- Additive: a feed was disconnected between start and end (readers: data is missing there).
CREATE TABLE feed_gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    reason TEXT,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    CHECK (end >= start)
);

CREATE INDEX idx_feed_gaps_exchange_start ON feed_gaps(exchange, start);

-- Additive: one row per closed arbitrage episode (signals are only its open/improvements).
CREATE TABLE signal_episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    episode_key TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    buy_exchange TEXT NOT NULL,
    sell_exchange TEXT NOT NULL,
    opened_at REAL NOT NULL,
    closed_at REAL NOT NULL,
    duration REAL GENERATED ALWAYS AS (closed_at - opened_at),
    peak_profit_percent REAL NOT NULL,
    updates INTEGER NOT NULL,
    signals INTEGER NOT NULL,
    close_reason TEXT NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_signal_episodes_symbol_opened ON signal_episodes(symbol, opened_at);
