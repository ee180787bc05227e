-- arbot.db v2: no ts-led index on ticks.
--
-- `ticks_ts` cost 18.8 bytes a tick (a quarter of the file) and a second B-tree insert per
-- tick. Time-only filters now search the primary key per symbol instead: the view puts
-- `symbols` first (CROSS JOIN fixes SQLite's join order), so `WHERE timestamp >= ?` is one
-- (symbol_id, ts) range search per symbol - a few hundred seeks, whatever the table's size -
-- and the storage modules' own time-only queries do the same. Without the fixed order a
-- planner lacking statistics may scan all of ticks instead.
-- Dropping the view drops its triggers; they are re-created unchanged.

DROP INDEX ticks_ts;

DROP VIEW tickers;

CREATE VIEW tickers (symbol, exchange, bid, ask, bid_size, ask_size, timestamp, created_at) AS
SELECT s.name, e.name, t.bid, t.ask, t.bid_size, t.ask_size, t.ts,
       datetime(t.ts + coalesce(t.recv_delta_ms, 0) / 1000.0, 'unixepoch')
FROM symbols AS s
CROSS JOIN ticks AS t ON t.symbol_id = s.id
JOIN exchanges AS e ON e.id = t.exchange_id;

-- As in arbot_001 (see the reasoning there).
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
