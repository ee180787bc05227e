-- The CREATE statements of the ArBot database spec, copied verbatim (credit: the project's
-- database spec, "Database Architecture" -> "Core Schema Design" and "Indexing Strategy",
-- shared/spec/database.md). The schema tests build an in-memory database from this file and
-- compare ours against it table by table, so CI needs no file outside the repository.
-- Which file each table lives in: arbot.db (tickers, arbitrage_signals, trades, balances,
-- performance_metrics, symbol_stats), historical.db (ohlcv), config.db (settings,
-- exchange_config). Do not edit: fix the code, not the expectation.

CREATE TABLE tickers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    exchange TEXT NOT NULL,
    bid REAL NOT NULL,
    ask REAL NOT NULL,
    bid_size REAL,
    ask_size REAL,
    timestamp REAL NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(symbol, exchange, timestamp)
);

-- Optimized indexes for fast lookups
CREATE INDEX idx_tickers_symbol_exchange ON tickers(symbol, exchange);
CREATE INDEX idx_tickers_timestamp ON tickers(timestamp);
CREATE INDEX idx_tickers_symbol_timestamp ON tickers(symbol, timestamp);

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

CREATE TABLE settings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    category TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    data_type TEXT NOT NULL DEFAULT 'string',
    description TEXT,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(category, key)
);

CREATE INDEX idx_settings_category ON settings(category);

CREATE TABLE exchange_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange TEXT NOT NULL UNIQUE,
    enabled BOOLEAN DEFAULT TRUE,
    arbitrage_enabled BOOLEAN DEFAULT TRUE,
    region TEXT,
    premium_baseline REAL DEFAULT 0,
    maker_fee REAL DEFAULT 0.001,
    taker_fee REAL DEFAULT 0.001,
    min_trade_amount REAL DEFAULT 10,
    max_trade_amount REAL DEFAULT 10000,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
);

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

-- Fast symbol + exchange + time range queries
CREATE INDEX idx_tickers_composite ON tickers(symbol, exchange, timestamp);

-- Arbitrage signal analysis
CREATE INDEX idx_signals_composite ON arbitrage_signals(symbol, profit_percent, timestamp);

-- Trade performance analysis
CREATE INDEX idx_trades_composite ON trades(symbol, status, started_at);

-- Balance queries
CREATE INDEX idx_balances_composite ON balances(exchange, asset, timestamp);

-- Only index successful trades
CREATE INDEX idx_trades_successful ON trades(symbol, actual_profit, completed_at)
WHERE status = 'completed' AND actual_profit > 0;

-- Only index executed signals
CREATE INDEX idx_signals_executed ON arbitrage_signals(symbol, profit_percent, timestamp)
WHERE executed = TRUE;
