"""PostgreSQL retention: complete days past the window become 1h OHLCV bars and their
partitions are dropped whole; a run that fails midway leaves nothing half-done and the
next run archives each hour exactly once; other tables lose only their old rows."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import PostgresSettings, RetentionSettings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.partitions import DAY, partition_days
from arbot.storage.pg.retention import archived_until, prune
from arbot.storage.pg.writer import PgWriter

DAY0 = 19_675 * DAY  # 2023-11-14 00:00 UTC
RETENTION = RetentionSettings(tickers_days=7, signals_days=7, trades_days=7)


def day_ticks(day: int, exchange: str = "okx") -> list[Tick]:
    """Two ticks an hour for 24 hours: mid 100 + hour, then 100 + hour + 0.5."""
    out = []
    for hour in range(24):
        for k, shift in ((0, 0.0), (1, 0.5)):
            ts = DAY0 + day * DAY + hour * 3600 + k * 1800
            mid = 100.0 + hour + shift
            out.append(Tick(exchange, "BTC/USDT", mid - 0.5, mid + 0.5, 1.0, 1.0, ts, ts))
    return out


def days_under_test(conn: psycopg.Connection[Any]) -> list[int]:
    """Partitions of the days under test (the writer also creates today's and ahead)."""
    first = int(DAY0 // DAY)
    return sorted(d - first for d in partition_days(conn) if d < first + 30)


def write(pg_settings: PostgresSettings, ticks: list[Tick]) -> None:
    async def go() -> None:
        writer = PgWriter(pg_settings, Metrics())
        writer.add(ticks)
        await writer.close()

    asyncio.run(go())


def now_after(days: float) -> float:
    """A time whose retention cutoff lies `days` into DAY0's week."""
    return DAY0 + (RETENTION.tickers_days + days) * DAY


def test_complete_days_become_bars_and_their_partitions_are_dropped(
    pg_settings: PostgresSettings,
) -> None:
    write(pg_settings, day_ticks(0) + day_ticks(1) + day_ticks(2))
    with connect(pg_settings) as conn:
        report = prune(conn, RETENTION, now_after(2.5))  # cutoff in the middle of day 2
        assert report.partitions_dropped == ["ticks_20231114", "ticks_20231115"]
        assert report.bars_written == 48
        assert archived_until(conn) == DAY0 + 2 * DAY
        first = conn.execute(
            "SELECT open_time, close_time, open_price, high_price, low_price, close_price, "
            "volume FROM ohlcv ORDER BY open_time LIMIT 1"
        ).fetchone()
        assert first == (DAY0, DAY0 + 3599, 100.0, 100.5, 100.0, 100.5, 2.0)
        assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (48,)
        assert days_under_test(conn) == [2]


def test_a_failed_run_leaves_the_day_whole_and_the_rerun_archives_once(
    pg_settings: PostgresSettings,
) -> None:
    """The watermark update fails once (as a crash would stop the run there): that day's
    bars and DROP roll back with it; the next run archives every hour once."""
    write(pg_settings, day_ticks(0) + day_ticks(1))
    with connect(pg_settings) as conn:
        conn.execute("CREATE SEQUENCE crash_once MAXVALUE 2 CYCLE")
        conn.execute(
            "CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF nextval('crash_once') = 2 THEN RAISE 'crash'; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER crash BEFORE INSERT ON archive_state "
            "FOR EACH ROW EXECUTE FUNCTION crash()"
        )
        with pytest.raises(Exception, match="crash"):
            prune(conn, RETENTION, now_after(2.0))
        # Day 0 committed; day 1 rolled back whole: no bars, partition kept, watermark.
        assert archived_until(conn) == DAY0 + DAY
        assert conn.execute("SELECT count(*) FROM ohlcv").fetchone() == (24,)
        assert days_under_test(conn) == [1]
        conn.execute("DROP TRIGGER crash ON archive_state")
        prune(conn, RETENTION, now_after(2.0))
        assert conn.execute("SELECT count(*), count(DISTINCT open_time) FROM ohlcv").fetchone() == (
            48,
            48,
        )
        assert days_under_test(conn) == []


def test_late_ticks_of_an_archived_day_are_dropped_without_new_bars(
    pg_settings: PostgresSettings,
) -> None:
    write(pg_settings, day_ticks(0))
    with connect(pg_settings) as conn:
        prune(conn, RETENTION, now_after(1.0))
    write(pg_settings, day_ticks(0, exchange="late"))  # the writer re-creates the partition
    with connect(pg_settings) as conn:
        report = prune(conn, RETENTION, now_after(1.0))
        assert report.partitions_dropped == ["ticks_20231114"]
        assert report.bars_written == 0
        assert conn.execute("SELECT count(*) FROM ohlcv WHERE exchange = 'late'").fetchone() == (0,)


def test_old_rows_of_other_tables_are_deleted_but_a_traded_signal_stays(
    pg_settings: PostgresSettings,
) -> None:
    now = now_after(0.0) + 30 * DAY
    old, new = now - 40 * DAY, now - DAY
    with connect(pg_settings) as conn:
        for sid, ts in ((1, old), (2, old), (3, new)):
            conn.execute(
                "INSERT INTO arbitrage_signals (id, symbol, buy_exchange, sell_exchange, "
                "buy_price, sell_price, profit, profit_percent, buy_size, sell_size, "
                "confidence, timestamp) VALUES (%s, 'B/U', 'a', 'b', 1, 2, 1, 1, 1, 1, 1, %s)",
                (sid, ts),
            )
        conn.execute(
            "INSERT INTO trades (signal_id, symbol, buy_exchange, sell_exchange, "
            "planned_buy_price, planned_sell_price, quantity, planned_profit, started_at) "
            "VALUES (2, 'B/U', 'a', 'b', 1, 2, 1, 1, now() AT TIME ZONE 'UTC')"
        )
        conn.execute(
            'INSERT INTO feed_gaps (exchange, start, "end") VALUES (%s, %s, %s), (%s, %s, %s)',
            ("okx", old, old + 1, "okx", new, new + 1),
        )
        report = prune(conn, RETENTION, now)
        assert conn.execute("SELECT id FROM arbitrage_signals ORDER BY id").fetchall() == [
            (2,),
            (3,),
        ]
        assert report.rows_deleted["arbitrage_signals"] == 1
        assert conn.execute('SELECT "end" FROM feed_gaps').fetchall() == [(new + 1,)]


async def test_a_partition_dropped_under_a_running_writer_is_created_again(
    pg_settings: PostgresSettings,
) -> None:
    """The writer caches which days have partitions; retention dropping one meanwhile
    costs a retry, not the batch."""
    writer = PgWriter(pg_settings, Metrics(), retry_max_seconds=0.05)
    writer.add(day_ticks(0)[:2])
    await writer.flush()
    with connect(pg_settings) as conn:
        await asyncio.to_thread(prune, conn, RETENTION, now_after(1.0))
    writer.add(day_ticks(0)[2:4])
    await writer.flush()
    await writer.close()
    with connect(pg_settings) as conn:
        assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (2,)
