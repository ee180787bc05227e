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
from typing import Any

from arbot.errors import ArbotError
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.settings import Settings
from arbot.storage.backend import Backend, backend_of
from arbot.storage.jobs import Job, JobRuns, pause
from arbot.storage.sqlite.stats import file_sizes

DAY = 86_400
SIZE_INTERVAL = 15.0
JOB_NICENESS = 10

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


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


def update_size_gauges(backend: Backend, metrics: Metrics) -> None:
    for db in backend.local_databases:
        size, wal = file_sizes(backend.settings.storage.data_dir, db)
        metrics.db_size.labels(db).set(size)
        metrics.wal_size.labels(db).set(wal)


async def _size_loop(backend: Backend, metrics: Metrics, sleep: Sleep) -> None:
    """The local files' sizes; with a server backend also the server database's
    (`database="postgresql"`, read on a thread: it takes a connection)."""
    log = get_logger(component="scheduler")
    while True:
        try:
            update_size_gauges(backend, metrics)
            size = await asyncio.to_thread(backend.server_bytes)
            if size is not None:
                metrics.db_size.labels(backend.name).set(size)
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
            job.name, scheduled, now, lambda: job.run(now, stop), lambda sec: pause(stop, sec)
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
    backend = backend_of(settings)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_size_loop(backend, metrics, sleep), name="db-size-gauges")
        tg.create_task(
            _jobs_loop(backend.daily_jobs(), backend.job_runs(), clock, sleep),
            name="daily-job-runner",
        )
