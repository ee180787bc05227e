-- arbot.db v2: compact ticks, no ts-led index.
--
-- 1. No `ticks_ts`. It cost 18.8 bytes a tick (a quarter of the file) and a second B-tree
--    insert per tick. Time-only filters search the primary key per symbol instead: views and
--    storage/sqlite/ticks.py put `symbols` first (CROSS JOIN fixes SQLite's join order), so
--    `WHERE timestamp >= ?` is one (symbol_id, ts) range search per symbol - a few hundred
--    seeks, whatever the table's size - with or without ANALYZE statistics.
-- 2. Prices and sizes in 1e-8 units when exact. bid, ask, bid_size and ask_size hold an
--    INTEGER m when m / 1e8 is exactly the value (any decimal quote with at most 8
--    fractional digits, which is nearly every exchange quote), else the REAL value itself.
--    SQLite stores an integer in 1-6 bytes instead of 8 (about 12 bytes a tick). Decoding
--    is the same IEEE division the encoder checked, so every value reads back bit-exact.
--    The columns have no declared type: any type affinity (REAL, NUMERIC, even "ANY")
--    would blur the INTEGER/REAL distinction the decoding relies on.
--    Writers encode in SQL (storage/sqlite/writer.py, the tickers_insert trigger below); readers
--    use the view `tick_values` (ids kept, values decoded) or `tickers`. A REAL written by
--    anything else is read back as itself; an INTEGER written by anything else is not.

DROP VIEW tickers;

CREATE TABLE ticks_v2 (
    symbol_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    exchange_id INTEGER NOT NULL,
    bid NOT NULL,
    ask NOT NULL,
    bid_size,
    ask_size,
    recv_delta_ms INTEGER,
    PRIMARY KEY (symbol_id, ts, exchange_id)
) WITHOUT ROWID;

INSERT INTO ticks_v2
SELECT symbol_id, ts, exchange_id,
       iif(CAST(round(bid * 1e8) AS INTEGER) / 1e8 = bid, CAST(round(bid * 1e8) AS INTEGER), bid),
       iif(CAST(round(ask * 1e8) AS INTEGER) / 1e8 = ask, CAST(round(ask * 1e8) AS INTEGER), ask),
       iif(CAST(round(bid_size * 1e8) AS INTEGER) / 1e8 = bid_size, CAST(round(bid_size * 1e8) AS INTEGER), bid_size),
       iif(CAST(round(ask_size * 1e8) AS INTEGER) / 1e8 = ask_size, CAST(round(ask_size * 1e8) AS INTEGER), ask_size),
       recv_delta_ms
FROM ticks;

DROP TABLE ticks;

ALTER TABLE ticks_v2 RENAME TO ticks;

CREATE VIEW tick_values (symbol_id, ts, exchange_id, bid, ask, bid_size, ask_size,
                         recv_delta_ms) AS
SELECT symbol_id, ts, exchange_id,
       iif(typeof(bid) = 'integer', bid / 1e8, bid),
       iif(typeof(ask) = 'integer', ask / 1e8, ask),
       iif(typeof(bid_size) = 'integer', bid_size / 1e8, bid_size),
       iif(typeof(ask_size) = 'integer', ask_size / 1e8, ask_size),
       recv_delta_ms
FROM ticks;

CREATE VIEW tickers (symbol, exchange, bid, ask, bid_size, ask_size, timestamp, created_at) AS
SELECT s.name, e.name, t.bid, t.ask, t.bid_size, t.ask_size, t.ts,
       datetime(t.ts + coalesce(t.recv_delta_ms, 0) / 1000.0, 'unixepoch')
FROM symbols AS s
CROSS JOIN tick_values AS t ON t.symbol_id = s.id
JOIN exchanges AS e ON e.id = t.exchange_id;

-- As in arbot_001 (see the reasoning there), values encoded as above.
CREATE TRIGGER tickers_insert INSTEAD OF INSERT ON tickers
BEGIN
    INSERT INTO symbols(name) SELECT NEW.symbol
    WHERE NOT EXISTS (SELECT 1 FROM symbols WHERE name = NEW.symbol);
    INSERT INTO exchanges(name) SELECT NEW.exchange
    WHERE NOT EXISTS (SELECT 1 FROM exchanges WHERE name = NEW.exchange);
    INSERT INTO ticks(symbol_id, ts, exchange_id, bid, ask, bid_size, ask_size, recv_delta_ms)
    VALUES ((SELECT id FROM symbols WHERE name = NEW.symbol), NEW.timestamp,
            (SELECT id FROM exchanges WHERE name = NEW.exchange),
            iif(CAST(round(NEW.bid * 1e8) AS INTEGER) / 1e8 = NEW.bid, CAST(round(NEW.bid * 1e8) AS INTEGER), NEW.bid),
            iif(CAST(round(NEW.ask * 1e8) AS INTEGER) / 1e8 = NEW.ask, CAST(round(NEW.ask * 1e8) AS INTEGER), NEW.ask),
            iif(CAST(round(NEW.bid_size * 1e8) AS INTEGER) / 1e8 = NEW.bid_size, CAST(round(NEW.bid_size * 1e8) AS INTEGER), NEW.bid_size),
            iif(CAST(round(NEW.ask_size * 1e8) AS INTEGER) / 1e8 = NEW.ask_size, CAST(round(NEW.ask_size * 1e8) AS INTEGER), NEW.ask_size),
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
