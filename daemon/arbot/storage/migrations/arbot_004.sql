-- arbot.db v4: order books (models.Book), one row per stored change of (exchange, symbol).
--
-- A row is a snapshot (kind 1, or 2 after a resync: what came before does not lead up to
-- it) or a delta against the key's previous row (kind 0): `levels` packs the levels that
-- changed, appeared (new amount) or left (amount 0), as 1e-8 counts delta-coded over their
-- common tick and lot (storage/books.py describes the bytes). A key starts a snapshot at
-- least every 60 s, at its first row of each UTC day and of each writer session, so a book
-- is rebuilt from the last snapshot at or before a time plus at most 60 s of deltas
-- (storage/books.py `rebuild`, `arbot query book`).
-- Why this layout: one row per change with a small blob costs ~50 bytes an update
-- including the B-tree (a realistic mix, `python -m bench.books`: ~23 bytes of levels),
-- where a row per level would cost about that per level. The key leads with (symbol_id, exchange_id): a rebuild and retention's search for
-- a key's last snapshot are one range each, and a key's rows are clustered; writes dirty one
-- leaf page per key a batch, a few hundred keys at most (books are a subset of the quotes).
-- kind 0 and 1 take no bytes in the record. No CHECK on kind: the writer is the only
-- producer, and a check costs every insert.
CREATE TABLE books (
    symbol_id INTEGER NOT NULL,
    exchange_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    kind INTEGER NOT NULL,
    recv_delta_ms INTEGER,
    levels BLOB NOT NULL,
    PRIMARY KEY (symbol_id, exchange_id, ts)
) WITHOUT ROWID;
