-- config.db v1: settings and per-exchange trading parameters (synchronised from the TOML).
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
