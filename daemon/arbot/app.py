"""Composition root: builds the stages, owns every task, stops them in data-flow order.

Start-up: check the exchange ids, take the daemon lock, create/migrate the four databases,
mirror the exchanges into config.db, open the writer, start the HTTP server, read what the
last run left (ids, paper balances, open episodes; a server down is waited for, a stop
meanwhile ends the run) into the engine, start the pipeline (queue -> engine), the storage
sink, the feeds, the daily jobs and the systemd notifier, then READY=1.
Stop (the `stop` trigger, a feed's ExchangeSetupError, or the writer standing down: another
daemon took its shard over), all within service.grace_timeout:
stop the feeds (in-process ones by cancellation; worker processes are told to stop and
what they send is queued), close the queue (the
pipeline runs what it holds through the engine, which keeps its open episodes for the next
start), let the sink commit everything, close the writer (WAL checkpoint), release the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from arbot import feeds
from arbot.errors import EXIT_OK, EXIT_UNCLEAN, ArbotError, ConfigError, ExchangeSetupError
from arbot.health import heartbeat
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.metrics_server import MetricsServer
from arbot.models import ExchangeParams
from arbot.notify.targets import Target, load_targets
from arbot.records import Resume
from arbot.reload import Reloader, applies_live, changed_keys
from arbot.scheduler import run_daily_jobs
from arbot.settings import Settings
from arbot.stages import Feeds, Stages, build_stages, metrics_server
from arbot.storage import exchange_config
from arbot.storage.backend import backend_of
from arbot.storage.batches import BatchWriter, WaitCancelled
from arbot.storage.connection import Pragmas
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.pg.shard import for_shard
from arbot.storage.schema import init_all, make_data_dir, open_database
from arbot.storage.sqlite.writer import SWITCH_INTERVAL
from arbot.systemd import Notifier, extend_start, keep_alive
from arbot.venues import params_from_settings
from arbot.version import version

Clock = Callable[[], float]


async def run_daemon(
    settings: Settings,
    stop: Awaitable[object],
    metrics: Metrics | None = None,
    *,
    clock: Clock = time.time,
    notifier: Notifier | None = None,
    reloader: Reloader | None = None,
) -> int:
    """Run until `stop` completes (or a feed finds a configuration error); return the exit
    code. Errors the operator must fix are logged with their message, not raised. A
    `reloader` gets the daemon's on_reload hook (SIGHUP)."""
    log = get_logger()
    daemon = _Daemon(settings, metrics or Metrics(), clock, notifier or Notifier.from_environ())
    if reloader is not None:
        reloader.hooks.append(daemon.on_reload)
    try:
        return await daemon.run(stop)
    except ArbotError as exc:
        log.error("daemon_failed", error=str(exc), exit_code=exc.exit_code)
        return exc.exit_code
    except Exception:
        # A bug: one JSON line with the traceback for journald; systemd restarts us.
        log.exception("daemon_crashed", exit_code=EXIT_UNCLEAN)
        return EXIT_UNCLEAN
    finally:
        daemon.notifier.close()
        if inspect.iscoroutine(stop):
            stop.close()  # never awaited when start-up failed: no "never awaited" warning


class _Daemon:
    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock, notifier: Notifier):
        settings = for_shard(settings)  # [shard]: this daemon's symbols only
        self.metrics = metrics
        self.clock = clock
        self.notifier = notifier
        self.log = get_logger()
        self.exchanges = settings.enabled_exchanges
        self.stopping = asyncio.Event()
        self.failure: ArbotError | None = None
        self.last_ticks: dict[str, float | None] = {}
        self.settings = settings
        self.backend = backend_of(settings)
        self._stages: Stages | None = None
        self._tasks: asyncio.TaskGroup | None = None  # the running daemon's tasks

    def on_reload(self, new: Settings) -> set[str]:
        """SIGHUP with a valid new configuration: apply what can change while running and
        return the dotted keys applied (see reload.changed_keys); every other changed key
        is logged as needing a restart. Live: detector thresholds, exchange fees and
        limits, paper settings (not balances), exchanges added, removed or changed (their
        feeds restart; the others never pause)."""
        stages, tasks = self._stages, self._tasks
        if stages is None or tasks is None:  # not serving yet
            return set()
        new = for_shard(new)
        old = self.settings
        changed = changed_keys(old, new)
        params = params_from_settings(new.exchanges)
        stages.pipeline.engine.reconfigure(new, params)
        # config.db is written off the event loop, in the daemon's task group: the stop
        # waits for it.
        tasks.create_task(asyncio.to_thread(self._sync_exchanges, new), name="exchange-config-sync")
        applied = {k for k in changed if applies_live(k)}
        stages.feeds.apply(old.enabled_exchanges, new.enabled_exchanges)
        applied |= {k for k in changed if k.split(".")[0] == "exchanges"}
        applied |= stages.notify.reload(new.notify, changed)
        self.settings = new
        self.exchanges = new.enabled_exchanges
        return applied

    def _sync_exchanges(self, new: Settings) -> None:
        """Mirror reloaded exchanges into config.db; the running engine has them already, so
        a failure (config.db locked) is only logged: the next start syncs again."""
        st = new.storage
        try:
            conn = open_database(st.data_dir, "config", Pragmas.of(st))
            try:
                exchange_config.sync(conn, new.exchanges)
            finally:
                conn.close()
        except (ArbotError, sqlite3.Error) as exc:
            self.log.warning("exchange_config_not_synced", error=str(exc))

    async def run(self, stop: Awaitable[object]) -> int:
        s = self.settings
        if not self.exchanges:
            raise ConfigError("exchanges: no exchange is enabled; add an [[exchanges]] table")
        feeds.check_exchanges(self.exchanges)
        targets = load_targets(s.notify)  # a token file readable by others stops here (exit 3)
        data_dir = s.storage.data_dir
        make_data_dir(data_dir)
        with acquire_daemon_lock(data_dir):
            params = await asyncio.to_thread(self._open_databases)
            writer = await asyncio.to_thread(self.backend.open_writer, self.metrics)
            async with AsyncExitStack() as stack:
                stack.push_async_callback(self._close_writer, writer)
                if s.metrics.enabled:  # before the wait for storage: it answers meanwhile
                    server = self._metrics_server(writer)
                    await server.start()
                    stack.push_async_callback(server.stop)
                    self.log.info("metrics_listening", url=f"{server.url}/metrics")
                stopped = asyncio.ensure_future(stop)
                stack.callback(stopped.cancel)
                resume = await self._wait_for_storage(writer, stopped)
                if resume is None:
                    return EXIT_OK
                sys.setswitchinterval(SWITCH_INTERVAL)  # why: storage/sqlite/writer.py
                stages = self._build(writer, params, resume, targets)
                code = await self._serve(stopped, stages)
        if self.failure is not None:
            raise self.failure
        return code

    def _open_databases(self) -> Mapping[str, ExchangeParams]:
        """Check + migrate the four files; mirror the TOML's exchanges into config.db."""
        st = self.settings.storage
        pragmas = Pragmas.of(st)
        init_all(st.data_dir, pragmas)
        conn = open_database(st.data_dir, "config", pragmas)
        try:
            exchange_config.sync(conn, self.settings.exchanges)
            return exchange_config.load(conn)
        finally:
            conn.close()

    async def _wait_for_storage(
        self, writer: BatchWriter, stopped: asyncio.Future[Any]
    ) -> Resume | None:
        """What the last run left (and each feed's last stored tick), once the database
        answers: a server down at start-up is waited for, told to systemd and /healthz.
        None when told to stop meanwhile (logged as this run's final line)."""

        def read() -> Resume:
            self.last_ticks = writer.last_received({e.name: e.symbols for e in self.exchanges})
            return writer.resume_state()

        reading = asyncio.ensure_future(asyncio.to_thread(read))
        extending = asyncio.ensure_future(extend_start(self.notifier, writer.retrying))
        try:
            await asyncio.wait([reading, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            extending.cancel()
        if not stopped.done():
            return reading.result()
        writer.cancel_wait()
        with contextlib.suppress(WaitCancelled):
            await reading  # at most one connection attempt (postgresql.connect_timeout)
        stopped.result()  # a stop trigger that failed is a bug: raised as one
        self.log.info("daemon_stopped", waiting_for="storage", exit_code=EXIT_OK)
        return None

    def _build(
        self,
        writer: BatchWriter,
        params: Mapping[str, ExchangeParams],
        resume: Resume,
        targets: tuple[Target, ...],
    ) -> Stages:
        stages = build_stages(
            self.settings,
            self.metrics,
            self.clock,
            writer=writer,
            params=params,
            resume=resume,
            targets=targets,
            last_ticks=self.last_ticks,
        )
        self._stages = stages
        return stages

    async def _serve(self, stop: Awaitable[object], stages: Stages) -> int:
        s = self.settings
        monitor = stages.monitor

        def stuck() -> str | None:
            return monitor.stuck(self.clock(), s.service.flow_window)

        async with asyncio.TaskGroup() as tg:
            self._tasks = tg
            pipeline_task = tg.create_task(
                stages.pipeline.run(stages.queue, self.clock), name="pipeline"
            )
            sink_task = tg.create_task(stages.sink.run(), name="sink")
            feeds_task = tg.create_task(self._run_feeds(stages.feeds), name="feeds")
            helpers = [
                tg.create_task(self._watch_stop(stop, stages.writer), name="stop-trigger"),
                tg.create_task(run_daily_jobs(s, self.metrics, self.clock), name="daily-jobs"),
                tg.create_task(self._sample(stages), name="flow-sample"),
                tg.create_task(stages.notify.run(), name="notify"),
                tg.create_task(
                    keep_alive(self.notifier, stuck, lambda: monitor.status(self.clock())),
                    name="systemd",
                ),
            ]
            if s.logging.heartbeat > 0:
                helpers.append(tg.create_task(self._heartbeat(stages), name="heartbeat"))
            self.notifier.notify("READY=1", "STATUS=started, waiting for ticks")
            self.log.info(
                "daemon_started",
                version=version(),
                data_dir=str(s.storage.data_dir),
                exchanges=[e.name for e in self.exchanges],
                loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
            )
            await self.stopping.wait()
            self.notifier.notify("STOPPING=1", "STATUS=draining")
            self.log.info("daemon_stopping", queued=stages.queue.qsize())
            code = await self._drain(stages, feeds_task, pipeline_task, sink_task)
            for task in helpers:
                task.cancel()
        if (fenced := stages.writer.fenced) is not None:
            code = fenced.exit_code  # another daemon took the shard over: not a clean stop
        if self.failure is not None:
            return code  # run() raises it: daemon_failed is the one final line
        self.log.info(
            "daemon_stopped",
            ticks_accepted=stages.pipeline.accepted,
            ticks_committed=stages.pipeline.committed,
            ticks_skipped=stages.pipeline.skipped,
            ticks_dropped=stages.sink.dropped + stages.writer.ticks_dropped,
            signals=stages.pipeline.engine.signals,
            records_dropped=dict(stages.writer.records_dropped),
            exit_code=code,
        )
        return code

    async def _drain(
        self,
        stages: Stages,
        feeds_task: asyncio.Task[None],
        pipeline_task: asyncio.Task[None],
        sink_task: asyncio.Task[None],
    ) -> int:
        """Data-flow order under one deadline; returns the exit code."""
        grace = self.settings.service.grace_timeout
        try:
            async with asyncio.timeout(grace):
                await stages.feeds.stop()  # workers send what they have first
                feeds_task.cancel()
                await asyncio.wait([feeds_task])
                stages.queue.close()
                await pipeline_task
                await stages.sink.close()
                await sink_task
                await stages.writer.close()
        except TimeoutError:
            self.log.error(
                "drain_timeout",
                grace_timeout=grace,
                queued=stages.queue.qsize(),
                pending=stages.sink.backlog,
            )
            pipeline_task.cancel()
            sink_task.cancel()
            return EXIT_UNCLEAN
        return EXIT_OK

    async def _close_writer(self, writer: BatchWriter) -> None:
        """Close the writer on error paths that skipped the drain. After a drain timeout the
        batch in flight is abandoned (waiting again could hang): the WAL keeps the database
        consistent and the lost ticks were counted as accepted, not committed."""
        if not self.stopping.is_set():
            await writer.close()

    async def _watch_stop(self, stop: Awaitable[object], writer: BatchWriter) -> None:
        """Until told to stop, or the writer stood down (its shard taken over)."""
        stopped = asyncio.ensure_future(stop)
        stood_down = asyncio.ensure_future(writer.stood_down())
        try:
            await asyncio.wait([stopped, stood_down], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stood_down.cancel()
        if stopped.done():
            stopped.result()  # a stop trigger that failed is a bug: raised as one
        self.stopping.set()

    async def _run_feeds(self, feedset: Feeds) -> None:
        """A configuration error found by a feed stops the daemon through the normal drain."""
        try:
            await feedset.run(self.exchanges)
        except ExchangeSetupError as exc:
            self.failure = exc
            self.stopping.set()

    async def _heartbeat(self, stages: Stages) -> None:
        interval = self.settings.logging.heartbeat
        await heartbeat(stages.monitor, stages.queue.qsize, interval, self.clock)

    async def _sample(self, stages: Stages) -> None:
        while True:
            await asyncio.sleep(1.0)
            stages.monitor.sample(self.clock())

    def _metrics_server(self, writer: BatchWriter) -> MetricsServer:
        s, stages = self.settings, lambda: self._stages
        return metrics_server(
            s, self.metrics, self.backend, writer=writer, stages=stages, clock=self.clock
        )
