"""The daemon's side of the feed workers: one supervisor task per worker process starts it
(spawn: a fresh interpreter, never a fork of the running loop), reads its pipe into the tick
queue (through the flow monitor, as in-process feeds put), applies its status and metrics,
and restarts it with backoff when it dies or stalls. Such a death is an outage of its
exchanges: a FeedDown now, and the restarted feeds' first ticks record the gap from their
last tick. What a killed worker had captured but not sent is lost within that gap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from arbot.errors import ExchangeSetupError
from arbot.feeds.backoff import Backoff
from arbot.health import FlowMonitor
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.models import FeedDown, QueueItem
from arbot.settings import ExchangeSettings, LoggingSettings
from arbot.tick_queue import TickQueue
from arbot.workers import channel
from arbot.workers.assign import assign, reassign, share_changed
from arbot.workers.child import WorkerSpec, main
from arbot.workers.merge import MetricsMerge

START_WITHIN = 60.0  # seconds for a new worker's first message (a fresh interpreter, ccxt)
STALL_AFTER = 10.0  # seconds without a message (the heartbeat is 0.5 s) before a kill
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(slots=True)
class _Slot:
    index: int
    share: tuple[ExchangeSettings, ...]
    process: BaseProcess | None = None
    supervised: bool = False  # its supervisor task runs
    reassigned: asyncio.Event = field(default_factory=asyncio.Event)


class WorkerPool:
    """The feeds in `count` worker processes; FeedSet's contract (run, apply, stop)."""

    def __init__(
        self,
        count: int,
        queue: TickQueue,
        monitor: FlowMonitor,
        metrics: Metrics,
        logging: LoggingSettings,
        *,
        clock: Callable[[], float] = time.time,
        last_ticks: Mapping[str, float | None] | None = None,
        stall_after: float = STALL_AFTER,
    ) -> None:
        self._count = count
        self._queue = queue
        self._monitor = monitor
        self._metrics = metrics
        self._logging = logging
        self._clock = clock
        self._last_ticks = dict(last_ticks or {})
        self._stall_after = stall_after
        self._slots: list[_Slot] = []
        self._group: asyncio.TaskGroup | None = None
        self._stopping = False
        self._setup_error: ExchangeSetupError | None = None
        self._finished = asyncio.Event()
        self._log = get_logger(component="workers")

    def alive(self) -> tuple[int, int]:
        """(workers running, workers with exchanges to run)."""
        busy = [s for s in self._slots if s.share]
        return sum(1 for s in busy if s.process is not None and s.process.is_alive()), len(busy)

    def pids(self) -> dict[int, int]:
        """The running worker processes' ids, by worker."""
        return {
            s.index: s.process.pid
            for s in self._slots
            if s.process is not None and s.process.pid is not None
        }

    async def run(self, exchanges: Iterable[ExchangeSettings]) -> None:
        """Run the workers until cancelled or stopped. A configuration error found by a feed
        (a symbol the exchange does not list) is raised."""
        shares = assign(exchanges, self._count)
        self._slots = [_Slot(i, share) for i, share in enumerate(shares)]
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for slot in self._slots:
                    if slot.share:
                        group.create_task(self._supervise(slot), name=f"feed-worker-{slot.index}")
        finally:
            self._finished.set()
        if self._setup_error is not None:
            raise self._setup_error

    def apply(self, before: Iterable[ExchangeSettings], after: Iterable[ExchangeSettings]) -> None:
        """Reload: re-assign the exchanges and restart the workers whose share changed (the
        others go on); a restarted worker's feeds record the gap from their last tick."""
        del before  # the shares know what runs
        after = tuple(after)
        shares = reassign([s.share for s in self._slots], after)
        names = {e.name for e in after}
        for slot, share in zip(self._slots, shares, strict=True):
            if not share_changed(slot.share, share):
                slot.share = share  # settings a feed does not use (fees, limits)
                continue
            for cfg in slot.share:
                self._last_ticks[cfg.name] = self._monitor.last_tick.get(cfg.name)
                if cfg.name not in names:
                    self._monitor.remove_feed(cfg.name)
            slot.share = share
            if not slot.supervised and share and self._group is not None:
                self._group.create_task(self._supervise(slot), name=f"feed-worker-{slot.index}")
            else:
                slot.reassigned.set()
                _signal(slot.process, signal.SIGTERM)

    async def stop(self) -> None:
        """Stop every worker and put all they sent into the queue (the caller bounds it)."""
        self._stop_all()
        if self._group is not None:
            await self._finished.wait()

    def _stop_all(self) -> None:
        self._stopping = True
        for slot in self._slots:
            _signal(slot.process, signal.SIGTERM)

    async def _supervise(self, slot: _Slot) -> None:
        slot.supervised = True
        try:
            await self._restarting(slot)
        finally:
            slot.supervised = False

    async def _restarting(self, slot: _Slot) -> None:
        """Run the slot's worker, again after it died, until its share is empty or the
        pool stops."""
        backoff = Backoff(1.0, 30.0)
        while slot.share and not self._stopping:
            started = self._clock()
            for cfg in slot.share:
                self._monitor.add_feed(cfg.name, started)
            slot.reassigned.clear()
            why = await self._run_once(slot)
            if slot.reassigned.is_set():
                continue
            if self._stopping or why is None:
                return
            if self._clock() - started >= 60:  # it ran a while: not a crash loop
                backoff.reset()
            delay = backoff.next()
            self._metrics.feed_worker_restarts.labels(str(slot.index)).inc()
            self._log.error("feed_worker_died", worker=slot.index, reason=why, retry_in=delay)
            await self._outage(slot, f"worker {why}", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await slot.reassigned.wait()

    async def _run_once(self, slot: _Slot) -> str | None:
        """Start the worker and read it until it ends. None when it stopped as told (or
        found a configuration error); else why it ended."""
        spec = WorkerSpec(
            slot.index,
            slot.share,
            # This run's last tick (a restart), else the one before a reload or this run
            {
                e.name: self._monitor.last_tick.get(e.name) or self._last_ticks.get(e.name)
                for e in slot.share
            },
            self._logging.format,
            self._logging.level,
        )
        read_end, write_end = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=main, args=(spec, write_end), name=f"arbot-feed-worker-{slot.index}", daemon=True
        )
        process.start()
        write_end.close()  # the child's copy is the only one: its exit is our EOF
        slot.process = process
        up = self._metrics.feed_worker_up.labels(str(slot.index))
        up.set(1)
        merge = MetricsMerge(self._metrics)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(os.dup(read_end.fileno()), "rb", buffering=0)
        read_end.close()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        done: bool | None = False
        try:
            done = await self._read(reader, merge, START_WITHIN)
        finally:
            # Stalled: killed now; cancelled (no drain): told to stop, killed if it lingers.
            _signal(process, signal.SIGKILL if done is None else signal.SIGTERM)
            transport.close()
            up.set(0)
            code = await _reap(process)
            slot.process = None
        if done or self._stopping:
            return None
        return "stalled" if done is None else f"exited ({_describe(code)})"

    async def _read(
        self, reader: asyncio.StreamReader, merge: MetricsMerge, first: float
    ) -> bool | None:
        """Until DONE (True), the pipe's end (False) or silence beyond the bound (None)."""
        within = first
        while True:
            try:
                async with asyncio.timeout(within):
                    size = channel.LENGTH.unpack(await reader.readexactly(channel.LENGTH.size))[0]
                body = await reader.readexactly(size)
            except asyncio.IncompleteReadError:
                return False
            except TimeoutError:
                return None
            within = self._stall_after
            kind, payload = body[:1], body[1:]
            if kind == channel.ITEMS:
                for item in channel.decode_items(payload):
                    await self._put(item)
            elif kind == channel.STATUS:
                self._status(json.loads(payload), merge)
            elif kind == channel.SETUP_ERROR:
                # As in-process: the first configuration error found stops the daemon.
                self._setup_error = self._setup_error or ExchangeSetupError(json.loads(payload))
                self._stop_all()
            elif kind == channel.DONE:
                return True

    async def _put(self, item: QueueItem) -> None:
        self._monitor.on_item(item)
        await self._queue.put(item)

    def _status(self, body: dict[str, Any], merge: MetricsMerge) -> None:
        for name, fields in body["feeds"].items():
            feed = self._monitor.feeds.get(name)
            if feed is not None:
                for key, value in fields.items():
                    setattr(feed, key, value)
        merge.apply(body["metrics"])

    async def _outage(self, slot: _Slot, reason: str, delay: float) -> None:
        """The dead worker's exchanges are down until their restarted feeds deliver."""
        now = self._clock()
        for cfg in slot.share:
            self._metrics.feed_up.labels(cfg.name).set(0)
            feed = self._monitor.feeds.get(cfg.name)
            if feed is None:
                continue
            feed.failed(now, "worker", reason)
            feed.retrying(now + delay + START_WITHIN)
            if feed.last_tick is not None and not feed.down:
                await self._put(FeedDown(cfg.name, now, reason))


def _signal(process: BaseProcess | None, sig: signal.Signals) -> None:
    if process is not None and process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)


async def _reap(process: BaseProcess) -> int | None:
    """The exit code, killing a worker that does not end by itself (it stalled)."""
    await asyncio.to_thread(process.join, 5.0)
    if process.exitcode is None:
        _signal(process, signal.SIGKILL)
        await asyncio.to_thread(process.join)
    return process.exitcode


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
