"""Daily jobs inside the daemon: retention at retention.run_at, backup at backup.run_at, the
performance rollup after midnight (all UTC), and the database size gauges every 15 s.

Jobs are blocking SQLite work: they run in a thread of their own so the event loop keeps
ingesting, at a lower CPU priority (nice +10) so that on a small machine the writer thread
wins the CPU against gzip and integrity checks (bench/dbops.py: p50/p99 commit latency during
a backup fell from ~7/76-107 ms to 4.5/69 ms). A failing job is logged and retried at its
next time; it never stops the daemon. Cancelling the daemon asks a running job to stop at its
next chunk (prune) or page step (backup): both are safe to interrupt. Times are wall-clock
UTC from the injected clock, so tests drive a fake day.
Each job's last completion is kept in config.db (job_runs). At start-up a job whose latest
scheduled time passed after its last completion (the daemon was down, or the job failed)
runs at once; a job that never completed waits for its time.
With storage.backend = "postgresql" the jobs work on the server and job_runs is the
server's, shared by the shard daemons: each scheduled run is done once, by whichever daemon
takes it first (storage/pg/jobs.py). They are retention (archive and drop day partitions),
creating tick partitions ahead, and the rollup; backups are pg_dump's job, said once at
start-up.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from arbot import rollup
from arbot.errors import ArbotError
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.settings import Settings
from arbot.storage import job_runs, retention
from arbot.storage.backup import run_backup
from arbot.storage.connection import DATABASES, Pragmas
from arbot.storage.stats import file_sizes

DAY = 86_400
SIZE_INTERVAL = 15.0
ROLLUP_AT = "00:05"  # after midnight UTC, once the previous day is complete
JOB_NICENESS = 10

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    at: str  # "HH:MM" UTC
    # Blocking: gets `now` and a stop event to honour between steps; returns facts to log.
    run: Callable[[float, threading.Event], dict[str, Any]]


class JobStopped(Exception):
    """Raised inside a job's thread when the daemon is stopping."""


def _pause(stop: threading.Event, seconds: float) -> None:
    if stop.wait(seconds):
        raise JobStopped


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise JobStopped


def _lower_priority() -> None:
    """Executor initializer (runs once, in the job thread): nice only this worker thread
    (Linux threads are tasks). Best effort: a refusal (a seccomp filter) is one warning."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
    except (OSError, AttributeError) as exc:
        get_logger(component="scheduler").warning(
            "job_priority_unchanged", error=str(exc), niceness=JOB_NICENESS
        )


def next_run(at: str, now: float) -> float:
    """The first UTC time-of-day `at` strictly after `now`."""
    hours, minutes = (int(p) for p in at.split(":"))
    candidate = now // DAY * DAY + hours * 3600 + minutes * 60
    return candidate if candidate > now else candidate + DAY


def first_due(at: str, now: float, last_completed: float | None) -> float:
    """When a job first runs after start-up: now if its latest scheduled time at or before
    `now` is after its last completion, else its next scheduled time."""
    upcoming = next_run(at, now)
    if last_completed is not None and last_completed < upcoming - DAY:
        return now
    return upcoming


class JobRuns(Protocol):
    """Where job completions are kept, and how one scheduled run is taken."""

    def completed(self) -> dict[str, float]: ...

    def run_once(
        self,
        name: str,
        scheduled: float,
        now: float,
        work: Callable[[], dict[str, Any]],
        pause: Callable[[float], None],
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SqliteJobRuns:
    """config.db's job_runs; one daemon per data dir, so every run is its own."""

    data_dir: Path
    pragmas: Pragmas

    def completed(self) -> dict[str, float]:
        return job_runs.completed(self.data_dir, self.pragmas)

    def run_once(
        self,
        name: str,
        scheduled: float,
        now: float,
        work: Callable[[], dict[str, Any]],
        pause: Callable[[float], None],
    ) -> dict[str, Any]:
        facts = work()
        job_runs.record_completed(self.data_dir, name, now, self.pragmas)
        return facts


def job_runs_of(settings: Settings) -> JobRuns:
    if settings.storage.backend == "postgresql":
        from arbot.storage.pg.jobs import PgJobRuns  # psycopg only where it is used

        return PgJobRuns(settings.postgresql)
    return SqliteJobRuns(settings.storage.data_dir, Pragmas.of(settings.storage))


def daily_jobs(settings: Settings) -> list[Job]:
    if settings.storage.backend == "postgresql":
        return _pg_jobs(settings)
    st = settings.storage
    data_dir = st.data_dir
    pragmas = Pragmas.of(st)

    def prune(now: float, stop: threading.Event) -> dict[str, Any]:
        report = retention.prune(
            data_dir, settings.retention, now, pragmas, pause=lambda sec: _pause(stop, sec)
        )
        return {
            "bars_written": report.bars_written,
            "ticks_deleted": report.ticks_deleted,
            "rows_deleted": sum(report.rows_deleted.values()),
            "seconds": round(report.seconds, 3),
        }

    def backup(now: float, stop: threading.Event) -> dict[str, Any]:
        b = settings.backup
        report = run_backup(
            data_dir,
            settings.backup_dir,
            now,
            compress=b.compress,
            keep_daily=b.keep_daily,
            keep_weekly=b.keep_weekly,
            check=lambda: _check(stop),
        )
        if not report.ok:
            failed = "; ".join(f"{db}: {why}" for db, why in report.failed.items())
            raise RuntimeError(f"backup verification failed: {failed}")
        return {"files": len(report.files), "bytes": sum(f.bytes for f in report.files)}

    def performance_rollup(now: float, stop: threading.Event) -> dict[str, Any]:
        rollup.daily_rollup(data_dir, now, pragmas)
        return {}

    jobs = [Job("rollup", ROLLUP_AT, performance_rollup)]
    if settings.retention.enabled:
        jobs.append(Job("retention", settings.retention.run_at, prune))
    if settings.backup.enabled:
        jobs.append(Job("backup", settings.backup.run_at, backup))
    return jobs


def _pg_jobs(settings: Settings) -> list[Job]:
    from arbot.storage.pg import jobs as pg  # psycopg only where it is used

    s = settings.postgresql
    jobs = [
        Job("rollup", ROLLUP_AT, lambda now, stop: pg.rollup(s, now)),
        Job("partitions", ROLLUP_AT, lambda now, stop: pg.create_partitions(s, now)),
    ]
    if settings.retention.enabled:
        jobs.append(
            Job(
                "retention",
                settings.retention.run_at,
                lambda now, stop: pg.prune(s, settings.retention, now, lambda: _check(stop)),
            )
        )
    if settings.backup.enabled:
        get_logger(component="scheduler").warning(
            "backup_not_run",
            reason="storage.backend is postgresql: back up the server with pg_dump "
            "(README: Scaling out); set backup.enabled = false to silence this",
        )
    return jobs


def update_size_gauges(settings: Settings, metrics: Metrics) -> None:
    for db in DATABASES:
        size, wal = file_sizes(settings.storage.data_dir, db)
        metrics.db_size.labels(db).set(size)
        metrics.wal_size.labels(db).set(wal)


async def _size_loop(settings: Settings, metrics: Metrics, sleep: Sleep) -> None:
    """The local files' sizes; with the PostgreSQL backend also the server database's
    (`database="postgresql"`, read on a thread: it takes a connection)."""
    log = get_logger(component="scheduler")
    server = settings.storage.backend == "postgresql"
    while True:
        try:
            update_size_gauges(settings, metrics)
            if server:
                from arbot.storage.pg.commands import database_bytes  # psycopg where used

                size = await asyncio.to_thread(database_bytes, settings)
                metrics.db_size.labels("postgresql").set(size)
        except (OSError, ArbotError) as exc:
            log.warning("database_size_unavailable", error=str(exc))
        await sleep(SIZE_INTERVAL)


async def _jobs_loop(jobs: list[Job], runs: JobRuns, clock: Clock, sleep: Sleep) -> None:
    log = get_logger(component="scheduler")
    stop = threading.Event()
    executor = ThreadPoolExecutor(1, "arbot-daily-job", initializer=_lower_priority)
    loop = asyncio.get_running_loop()

    def run_and_record(job: Job, now: float) -> dict[str, Any]:
        scheduled = next_run(job.at, now) - DAY  # the time this run is for
        return runs.run_once(
            job.name, scheduled, now, lambda: job.run(now, stop), lambda sec: _pause(stop, sec)
        )

    try:
        try:
            last = await loop.run_in_executor(executor, runs.completed)
        except (ArbotError, sqlite3.Error) as exc:  # no catch-up this time; the jobs still run
            log.warning("job_runs_unavailable", error=str(exc))
            last = {}
        now = clock()
        due = {job.name: first_due(job.at, now, last.get(job.name)) for job in jobs}
        for job in jobs:
            if due[job.name] == now:
                log.info("daily_job_missed", job=job.name, last_completed=last[job.name])
        while True:
            job = min(jobs, key=lambda j: due[j.name])
            wait = due[job.name] - clock()
            if wait > 0:
                await sleep(wait)
                continue  # re-check: the clock may have jumped
            now = clock()
            due[job.name] = next_run(job.at, now)
            log.info("daily_job_started", job=job.name)
            try:
                facts = await loop.run_in_executor(executor, run_and_record, job, now)
            except Exception as exc:  # a failed job waits for its next run; the daemon goes on
                log.error(
                    "daily_job_failed", job=job.name, error=str(exc), exc_type=type(exc).__name__
                )
            else:
                log.info("daily_job_done", job=job.name, **facts)
    finally:
        stop.set()  # a job still running in the thread stops at its next step
        executor.shutdown(wait=False, cancel_futures=True)


async def run_daily_jobs(
    settings: Settings,
    metrics: Metrics,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Run forever (until cancelled): the daily jobs and the size gauges."""
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_size_loop(settings, metrics, sleep), name="db-size-gauges")
        tg.create_task(
            _jobs_loop(daily_jobs(settings), job_runs_of(settings), clock, sleep),
            name="daily-job-runner",
        )
