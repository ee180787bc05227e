-- backtest.db v1: replay/backtest runs, their settings and results.
-- One run = one input (CSV file or a data dir + time range) x one settings combination;
-- a parameter sweep is several runs sharing a `sweep_id`.
CREATE TABLE backtest_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('replay', 'backtest')),
    input TEXT NOT NULL,
    time_from REAL,
    time_to REAL,
    settings_json TEXT NOT NULL,
    overrides_json TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    error_message TEXT,
    started_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    completed_at DATETIME
);

CREATE INDEX idx_backtest_runs_sweep ON backtest_runs(sweep_id);

CREATE TABLE backtest_results (
    run_id INTEGER PRIMARY KEY REFERENCES backtest_runs(id) ON DELETE CASCADE,
    ticks INTEGER NOT NULL,
    signals INTEGER NOT NULL,
    episodes INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    successful_trades INTEGER NOT NULL,
    total_profit REAL NOT NULL,
    total_fees REAL NOT NULL,
    max_drawdown REAL NOT NULL,
    win_rate REAL NOT NULL,
    avg_profit_percent REAL
);

CREATE TABLE backtest_trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES backtest_runs(id) ON DELETE CASCADE,
    symbol TEXT NOT NULL,
    buy_exchange TEXT NOT NULL,
    sell_exchange TEXT NOT NULL,
    signal_time REAL NOT NULL,
    quantity REAL NOT NULL,
    planned_profit REAL NOT NULL,
    actual_profit REAL,
    fees_paid REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error_message TEXT
);

CREATE INDEX idx_backtest_trades_run ON backtest_trades(run_id);
