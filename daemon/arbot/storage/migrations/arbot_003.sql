-- arbot.db v3: state one run hands to the next (engine.Resume), and the replays done.
-- Episodes still open when the daemon stops are kept here instead of being closed with
-- reason "shutdown"; the next start resumes them (detector.resume) and empties the table.
CREATE TABLE open_episodes (
    episode_key TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    buy_exchange TEXT NOT NULL,
    buy_symbol TEXT NOT NULL,
    sell_exchange TEXT NOT NULL,
    sell_symbol TEXT NOT NULL,
    opened_at REAL NOT NULL,
    peak_profit_percent REAL NOT NULL,
    updates INTEGER NOT NULL,
    signals INTEGER NOT NULL,
    last_signal_percent REAL NOT NULL,
    last_signal_at REAL NOT NULL
);

-- One row per file replayed into this arbot.db (by content hash): replaying the same data
-- twice would store its signals and trades twice, so `arbot replay` refuses it.
CREATE TABLE replays (
    sha256 TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    replayed_at TEXT NOT NULL,
    ticks INTEGER NOT NULL,
    signals INTEGER NOT NULL
);
