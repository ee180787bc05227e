"""The daily jobs run at their UTC times on the daemon's clock; failures never stop them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from arbot.metrics import Metrics
from arbot.scheduler import SIZE_INTERVAL, first_due, next_run, run_daily_jobs
from arbot.settings import BackupSettings, RetentionSettings, Settings, StorageSettings
from arbot.storage.schema import open_database
from arbot.storage.sqlite import job_runs
from tests.storage.dbops_data import insert_ticks, random_ticks

DAY = 86_400.0
MIDNIGHT = 1_699_920_000.0  # 2023-11-14 00:00:00 UTC


class FakeTime:
    """A clock that moves when the job loop sleeps; stops everything at `end`. The size
    gauge loop's 15 s sleeps take a real millisecond and leave the fake day alone (else it
    would race the day forward while a job runs in its thread)."""

    def __init__(self, now: float, end: float) -> None:
        self.now = now
        self.end = end
        self.reached_end = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds == SIZE_INTERVAL:
            await asyncio.sleep(0.001)
            return
        self.now += seconds
        await asyncio.sleep(0)
        if self.now >= self.end:
            self.reached_end.set()
            await asyncio.Event().wait()  # parked until the test cancels the jobs


async def run_until_end(settings: Settings, metrics: Metrics, fake: FakeTime) -> None:
    task = asyncio.create_task(run_daily_jobs(settings, metrics, fake.clock, fake.sleep))
    await asyncio.wait_for(fake.reached_end.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_next_run_is_strictly_after_now() -> None:
    """03:30 today when earlier, tomorrow's 03:30 at or after it."""
    assert next_run("03:30", MIDNIGHT + 60) == MIDNIGHT + 3.5 * 3600
    assert next_run("03:30", MIDNIGHT + 3.5 * 3600) == MIDNIGHT + DAY + 3.5 * 3600


async def test_prune_and_backup_run_at_their_times(data_dir: Path, metrics: Metrics) -> None:
    """From 03:00 to 04:10 UTC: ticks older than 7 days are archived and a backup appears;
    the size gauges report the files."""
    now = MIDNIGHT + 3 * 3600
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(500, now - 9 * DAY, 3 * DAY))
    conn.close()
    settings = Settings(storage=StorageSettings(data_dir=data_dir))
    fake = FakeTime(now, MIDNIGHT + 4 * 3600 + 600)

    await run_until_end(settings, metrics, fake)

    hist = open_database(data_dir, "historical")
    assert hist.execute("SELECT count(*) FROM ohlcv").fetchone()[0] > 0
    hist.close()
    assert len(list((data_dir / "backups").glob("arbot_20231114_040000.db.gz"))) == 1
    size = metrics.registry.get_sample_value("arbot_database_size_bytes", {"database": "arbot"})
    assert size is not None and size > 0


async def test_a_failing_job_is_logged_and_the_loop_goes_on(
    data_dir: Path, tmp_path: Path, metrics: Metrics
) -> None:
    """A backup into an unwritable place fails and is logged; retention still runs later."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = Settings(
        storage=StorageSettings(data_dir=data_dir),
        backup=BackupSettings(dir=blocker / "backups", run_at="03:00"),
        retention=RetentionSettings(run_at="03:30"),
    )
    fake = FakeTime(MIDNIGHT + 2 * 3600, MIDNIGHT + 4 * 3600)

    with capture_logs() as logs:
        await run_until_end(settings, metrics, fake)

    events = [(e["event"], e.get("job")) for e in logs if e["event"].startswith("daily_job")]
    assert ("daily_job_failed", "backup") in events
    assert ("daily_job_done", "retention") in events
    assert events.index(("daily_job_failed", "backup")) < events.index(
        ("daily_job_done", "retention")
    )


async def test_cancelling_the_daemon_stops_a_running_prune(
    data_dir: Path, metrics: Metrics
) -> None:
    """Cancelled mid-prune, the job's thread stops at its next hour or chunk and leaves the
    rest (the next run finishes the job: archive and delete are idempotent)."""
    now = MIDNIGHT + 3.5 * 3600 - 1
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(30_000, now - 9 * DAY, DAY))
    conn.close()
    settings = Settings(
        storage=StorageSettings(data_dir=data_dir),
        retention=RetentionSettings(run_at="03:30", chunk_rows=100),
        backup=BackupSettings(enabled=False),
    )
    fake = FakeTime(now, now + DAY)
    task = asyncio.create_task(run_daily_jobs(settings, metrics, fake.clock, fake.sleep))
    hist = open_database(data_dir, "historical", readonly=True)
    for _ in range(3000):  # until the first hour is archived
        if hist.execute("SELECT count(*) FROM archive_state").fetchone()[0]:
            break
        await asyncio.sleep(0.01)
    hist.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for thread in threading.enumerate():
        if thread.name.startswith("arbot-daily-job"):
            await asyncio.to_thread(thread.join, 10)
            assert not thread.is_alive()
    conn = open_database(data_dir, "arbot", readonly=True)
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] > 0
    conn.close()


def test_first_due_catches_up_only_a_missed_time() -> None:
    """At 05:00 with a 03:30 job: completed yesterday 03:30 -> now; completed today 03:31 or
    never -> tomorrow's 03:30."""
    now = MIDNIGHT + 5 * 3600
    tomorrow = MIDNIGHT + DAY + 3.5 * 3600
    assert first_due("03:30", now, MIDNIGHT - DAY + 3.5 * 3600) == now
    assert first_due("03:30", now, MIDNIGHT + 3.5 * 3600 + 60) == tomorrow
    assert first_due("03:30", now, None) == tomorrow


async def test_a_job_missed_while_down_runs_at_start_and_is_recorded(
    data_dir: Path, metrics: Metrics
) -> None:
    """Last backup two days ago, daemon back at 05:00: the backup runs at once (not at
    tomorrow's 04:00); retention, completed after today's 03:30, waits. Completions are
    recorded, so the next start does not repeat them."""
    now = MIDNIGHT + 5 * 3600
    job_runs.record_completed(data_dir, "backup", now - 2 * DAY)
    job_runs.record_completed(data_dir, "retention", MIDNIGHT + 3.5 * 3600 + 5)
    job_runs.record_completed(data_dir, "rollup", MIDNIGHT + 300)
    settings = Settings(storage=StorageSettings(data_dir=data_dir))
    fake = FakeTime(now, now + 600)

    with capture_logs() as logs:
        await run_until_end(settings, metrics, fake)

    events = [(e["event"], e.get("job")) for e in logs if e["event"].startswith("daily_job")]
    assert events == [
        ("daily_job_missed", "backup"),
        ("daily_job_started", "backup"),
        ("daily_job_done", "backup"),
    ]
    assert len(list((data_dir / "backups").glob("arbot_20231114_050000.db.gz"))) == 1
    assert job_runs.completed(data_dir)["backup"] == now
