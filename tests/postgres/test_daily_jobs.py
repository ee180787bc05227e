"""The daemon's daily jobs with storage.backend = "postgresql": retention archives and
drops day partitions, tick partitions are created ahead, the previous day is rolled up, and
backups are left to pg_dump (said at start-up). Two shard daemons on one database schedule
the same jobs: each scheduled run is done by exactly one of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from structlog.testing import capture_logs

from arbot.metrics import Metrics
from arbot.settings import (
    PostgresSettings,
    RetentionSettings,
    Settings,
    ShardSettings,
    StorageSettings,
)
from arbot.storage.pg.connect import connect
from arbot.storage.pg.partitions import DAY, day_of, partition_days
from tests.postgres.test_retention import day_ticks, write
from tests.test_scheduler import FakeTime, run_until_end

MIDNIGHT = 1_699_920_000.0  # 2023-11-14 00:00:00 UTC
RETENTION = RetentionSettings(tickers_days=7, run_at="03:30")


def shard_settings(data_dir: Path, pg: PostgresSettings, index: int) -> Settings:
    return Settings(
        storage=StorageSettings(backend="postgresql", data_dir=data_dir),
        postgresql=pg,
        retention=RETENTION,
        shard=ShardSettings(index=index, count=2),
    )


def seed(pg: PostgresSettings) -> None:
    """Ticks of 2023-11-04..06 (complete days past the 7-day window on 11-14) and one
    completed paper trade started on 2023-11-13."""
    ticks = [t for day in (-10, -9, -8) for t in day_ticks(day)]
    write(pg, ticks)
    with connect(pg) as conn:
        conn.execute(
            """INSERT INTO trades (symbol, buy_exchange, sell_exchange, planned_buy_price,
                   planned_sell_price, quantity, planned_profit, status, actual_buy_price,
                   actual_profit, fees_paid, started_at, completed_at)
               VALUES ('BTC/USDT', 'okx', 'kraken', 100, 101, 1, 1, 'completed', 100, 0.5,
                   0.1, '2023-11-13 10:00:00', '2023-11-13 10:00:02.5')"""
        )


async def test_two_shard_daemons_run_each_job_once_on_one_database(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    await asyncio.to_thread(seed, pg_settings)
    with connect(pg_settings) as conn:
        old_days = {d for d in partition_days(conn) if d < day_of(MIDNIGHT) - 7}
    assert len(old_days) == 3

    settings = [shard_settings(tmp_path / f"data{i}", pg_settings, i) for i in (0, 1)]
    for s in settings:
        s.storage.data_dir.mkdir()
    end = MIDNIGHT + 4 * 3600 + 600
    metrics = [Metrics(), Metrics()]
    with capture_logs() as logged:
        await asyncio.gather(
            *(
                run_until_end(s, m, FakeTime(MIDNIGHT, end))
                for s, m in zip(settings, metrics, strict=True)
            )
        )
    # The size gauge reports the server's database, not only the local files.
    server_size = metrics[0].registry.get_sample_value(
        "arbot_database_size_bytes", {"database": "postgresql"}
    )
    assert server_size is not None and server_size > 1_000_000

    done = [e for e in logged if e["event"] == "daily_job_done"]
    ran = Counter(e["job"] for e in done if "skipped" not in e)
    skipped = Counter(e["job"] for e in done if "skipped" in e)
    assert ran == skipped == {"rollup": 1, "partitions": 1, "retention": 1}
    assert not [e for e in logged if e["event"] == "daily_job_failed"]
    # Backups: nothing run, and each daemon said why once.
    assert [e["event"] for e in logged if e.get("job") == "backup"] == []
    assert [e["event"] for e in logged].count("backup_not_run") == 2

    with connect(pg_settings) as conn:
        runs = dict(conn.execute("SELECT name, completed_at FROM job_runs").fetchall())
        days = set(partition_days(conn))
        bars = conn.execute("SELECT count(*) FROM ohlcv").fetchone()
        perf = conn.execute(
            "SELECT date::text, total_trades, successful_trades, total_profit, total_fees, "
            "avg_trade_duration FROM performance_metrics"
        ).fetchall()
    assert runs == {
        "rollup": MIDNIGHT + 300,
        "partitions": MIDNIGHT + 300,
        "retention": MIDNIGHT + 3.5 * 3600,
    }
    assert days.isdisjoint(old_days)  # archived and dropped
    today = day_of(MIDNIGHT)
    assert set(range(today, today + pg_settings.partitions_ahead_days + 1)) <= days
    assert bars == (3 * 24,)  # each hour of the three days once
    assert perf == [("2023-11-13", 1, 1, 0.5, 0.1, 2.5)]


async def test_a_job_done_by_another_daemon_while_this_one_was_down_is_not_redone(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    """job_runs is the server's: a daemon starting after another shard's retention run of
    today finds it complete; one starting after a missed run catches up at once."""
    settings = shard_settings(tmp_path, pg_settings, 1)
    with connect(pg_settings) as conn:
        conn.execute(
            "INSERT INTO job_runs (name, completed_at) VALUES ('retention', %s), "
            "('rollup', %s), ('partitions', %s)",
            (MIDNIGHT + 3.5 * 3600, MIDNIGHT + 300 - DAY, MIDNIGHT + 300),
        )
    start = MIDNIGHT + 5 * 3600
    with capture_logs() as logged:
        await run_until_end(settings, Metrics(), FakeTime(start, start + 600))
    started = [e["job"] for e in logged if e["event"] == "daily_job_started"]
    assert started == ["rollup"]  # missed today's 00:05; the others are complete
    with connect(pg_settings) as conn:
        (rollup_at,) = conn.execute(
            "SELECT completed_at FROM job_runs WHERE name = 'rollup'"
        ).fetchone() or (None,)
    assert rollup_at == start
