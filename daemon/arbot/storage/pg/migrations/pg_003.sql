-- PostgreSQL v3: order books, as arbot_004.sql on SQLite (the same rows and packed levels,
-- storage/books.py), partitioned by day like ticks: ensure_tick_partition now creates the
-- day's `books_YYYYMMDD` beside `ticks_YYYYMMDD` (for the days that exist already too), and
-- retention drops both together. A key's first row of each UTC day is a snapshot, so the
-- days left after a drop still rebuild. Columns 8-byte first (no alignment padding).
CREATE TABLE books (
    ts double precision NOT NULL,
    recv_delta_ms bigint,
    symbol_id integer NOT NULL,
    exchange_id integer NOT NULL,
    kind smallint NOT NULL,
    levels bytea NOT NULL,
    PRIMARY KEY (symbol_id, exchange_id, ts)
) PARTITION BY RANGE (ts);

-- Replacing a function resets what the command does not say: SECURITY DEFINER and the
-- pinned search_path are said again, as in pg_001.sql.
CREATE OR REPLACE FUNCTION ensure_tick_partition(at double precision) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    day_start double precision := floor(at / 86400) * 86400;
    suffix text := to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYYMMDD');
    name text := 'ticks_' || suffix;
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF ticks FOR VALUES FROM (%s) TO (%s)',
                       name, day_start, day_start + 86400);
    END IF;
    IF to_regclass('books_' || suffix) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF books FOR VALUES FROM (%s) TO (%s)',
                       'books_' || suffix, day_start, day_start + 86400);
    END IF;
    RETURN name;
END $$;

DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION ensure_tick_partition(double precision) '
                   'SET search_path = %I, pg_temp', current_schema());
END $$;

DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'ticks'::regclass AND c.relname ~ '^ticks_[0-9]{8}$'
    LOOP
        PERFORM ensure_tick_partition(
            extract(epoch FROM to_date(substr(part.relname, 7), 'YYYYMMDD'))::double precision);
    END LOOP;
END $$;
