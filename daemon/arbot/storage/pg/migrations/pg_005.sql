-- PostgreSQL v5: shard leases, the fence of shard writers. The advisory lock holding a
-- shard dies with its session: after a server restart a second daemon for the shard may
-- take it while the first still holds a backlog. So each writer takes its shard's lease
-- when it starts (generation + 1, storage/pg/shard.py) and every batch reads the lease
-- FOR UPDATE in its own transaction: a writer whose generation was superseded commits
-- nothing more and stands down. The row lock orders a take-over after the batch in flight.
CREATE TABLE shard_leases (
    shard integer PRIMARY KEY,
    generation bigint NOT NULL,
    holder text NOT NULL,
    taken_at double precision NOT NULL
);
