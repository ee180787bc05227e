"""A feed worker process: runs its share of the exchanges' feeds (run_feed: ccxt, capture,
validation, as in the daemon) and sends what they put, in batches, to the daemon over a
pipe, with its feeds' status and metric totals about once a second (the heartbeat).

SIGTERM (the daemon stopping or reassigning it) stops the feeds, sends what is left and
DONE, and exits 0. A broken pipe (the daemon gone) ends it at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import structlog

from arbot import feeds, logs
from arbot.errors import ExchangeSetupError
from arbot.event_loop import loop_factory
from arbot.feeds.status import FeedStatus
from arbot.metrics import Metrics
from arbot.models import QueueItem
from arbot.settings import ExchangeSettings
from arbot.workers import channel
from arbot.workers.merge import snapshot

STATUS_INTERVAL = 0.5  # seconds between STATUS messages (the heartbeat)
LINGER = 0.005  # seconds a batch waits for more items once it has one
MAX_PENDING = 20_000  # items waiting to be sent; past it the feeds wait, as on a full queue


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process is given (pickled to the spawned interpreter)."""

    index: int
    exchanges: tuple[ExchangeSettings, ...]
    last_ticks: dict[str, float | None] = field(default_factory=dict)
    log_format: str = "auto"
    log_level: str = "info"


def main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process's entry point: `conn` is the write end of its pipe to the daemon
    (written as a plain pipe: the framing is channel's)."""
    fd = os.dup(conn.fileno())
    conn.close()
    os.set_blocking(fd, False)
    # Ctrl-C reaches the whole process group; the daemon decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.configure(spec.log_format, spec.log_level)
    structlog.contextvars.bind_contextvars(worker=spec.index)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_Worker(spec, fd).run())


def status_of(feed: FeedStatus) -> dict[str, Any]:
    """The supervisor's side of a feed's status (the daemon sees its ticks itself)."""
    return {
        "progress": feed.progress,
        "retry_until": feed.retry_until,
        "stuck_after": feed.stuck_after,
        "error_kind": feed.error_kind,
        "error_message": feed.error_message,
        "error_at": feed.error_at,
    }


class _Worker:
    def __init__(self, spec: WorkerSpec, fd: int) -> None:
        self._spec = spec
        self._fd = fd
        self._metrics = Metrics()
        self._log = logs.get_logger()
        self._pending: list[QueueItem] = []
        self._has_items = asyncio.Event()
        self._room = asyncio.Event()
        self._statuses = {e.name: FeedStatus(e.name, time.time()) for e in spec.exchanges}
        self._closing = False
        self._setup_error: str | None = None

    async def run(self) -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        names = [e.name for e in self._spec.exchanges]
        self._log.info("worker_started", exchanges=names, pid=os.getpid())
        sender = asyncio.create_task(self._send_until_closed())
        feeds_task = asyncio.create_task(self._run_feeds())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([sender, feeds_task, stopping], return_when=asyncio.FIRST_COMPLETED)
            feeds_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeds_task
            # No put comes after this: the sender sends what is left and returns.
            self._closing = True
            self._has_items.set()
            await sender
            if self._setup_error is not None:
                await self._write(channel.encode_json(channel.SETUP_ERROR, self._setup_error))
            await self._write(channel.frame(channel.DONE, b""))
            self._log.info("worker_stopped")
        except BrokenPipeError:
            self._log.warning("worker_orphaned")  # the daemon is gone: nothing to deliver to
        finally:
            stopping.cancel()
            feeds_task.cancel()
            os.close(self._fd)

    async def _run_feeds(self) -> None:
        """Until cancelled, or a feed finds a configuration error (kept for the daemon)."""
        try:
            async with asyncio.TaskGroup() as group:
                for cfg in self._spec.exchanges:
                    group.create_task(self._feed(cfg), name=f"feed-{cfg.name}")
        except* ExchangeSetupError as errors:
            self._setup_error = str(errors.exceptions[0])

    async def _feed(self, cfg: ExchangeSettings) -> None:
        with structlog.contextvars.bound_contextvars(exchange=cfg.name):
            await feeds.run_feed(
                cfg,
                self._put,
                self._metrics,
                time.time,
                last_tick=self._spec.last_ticks.get(cfg.name),
                status=self._statuses[cfg.name],
            )

    async def _put(self, item: QueueItem) -> None:
        while len(self._pending) >= MAX_PENDING:
            self._room.clear()
            await self._room.wait()
        self._pending.append(item)
        self._has_items.set()

    def _take(self) -> list[QueueItem]:
        items, self._pending = self._pending, []
        self._has_items.clear()
        self._room.set()
        return items

    async def _send_until_closed(self) -> None:
        """Send batches as they come and the status at its interval; once closing, send
        what is left with a last status and return. Never cancelled: a write cut short
        would leave half a frame in the pipe."""
        loop = asyncio.get_running_loop()
        next_status = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_status - loop.time())):
                    await self._has_items.wait()
                    await asyncio.sleep(LINGER)
            closing = self._closing
            items = self._take()
            status = closing or loop.time() >= next_status
            if status:
                next_status = loop.time() + STATUS_INTERVAL
            await self._send(items, status)
            if closing:
                return

    async def _send(self, items: list[QueueItem], status: bool) -> None:
        frames = [channel.encode_items(items)] if items else []
        if status:
            feeds = {name: status_of(s) for name, s in self._statuses.items()}
            body = {"feeds": feeds, "metrics": snapshot(self._metrics)}
            frames.append(channel.encode_json(channel.STATUS, body))
        if frames:
            await self._write(b"".join(frames))

    async def _write(self, data: bytes) -> None:
        # The pipe is non-blocking: a full pipe (the daemon's queue full) holds the sender,
        # then the feeds (MAX_PENDING), never the loop that reads the websockets. Written
        # from the loop, not a thread: a thread hop per batch cost more CPU (GIL handoffs)
        # than the write itself.
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                await self._writable()

    async def _writable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():  # called again if the loop polls before we remove it
                ready.set_result(None)

        loop.add_writer(self._fd, wake)
        try:
            await ready
        finally:
            loop.remove_writer(self._fd)
