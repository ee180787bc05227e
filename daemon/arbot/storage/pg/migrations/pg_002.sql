-- PostgreSQL v2: each shard daemon is its own paper account. Balance snapshots carry the
-- shard that wrote them and a daemon resumes from its own shard's latest rows only; without
-- it, shards sharing a database would resume from each other's balances. Rows written
-- before this migration belong to shard 0 (the only daemon a v1 database had resuming).
ALTER TABLE balances ADD COLUMN shard integer NOT NULL DEFAULT 0;
ALTER TABLE balances DROP CONSTRAINT balances_exchange_asset_timestamp_key;
ALTER TABLE balances ADD CONSTRAINT balances_shard_exchange_asset_timestamp_key
    UNIQUE (shard, exchange, asset, timestamp);
