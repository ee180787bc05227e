"""The daemon's feeds: one task per enabled exchange, each putting into the tick queue
through the flow monitor; reload starts, stops and restarts them one by one while the
others go on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping

import structlog

from arbot import feeds
from arbot.errors import ExchangeSetupError
from arbot.feeds.status import FeedStatus
from arbot.health import FlowMonitor
from arbot.metrics import Metrics
from arbot.models import QueueItem
from arbot.reload import feed_changed
from arbot.settings import ExchangeSettings
from arbot.tick_queue import TickQueue


class FeedSet:
    def __init__(
        self,
        queue: TickQueue,
        monitor: FlowMonitor,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        last_ticks: Mapping[str, float | None] | None = None,
    ) -> None:
        """`last_ticks`: the receive time of each exchange's last stored tick (a previous
        run's), so each feed's first tick records the gap since."""
        self._queue = queue
        self._monitor = monitor
        self._metrics = metrics
        self._clock = clock
        self._last_ticks = dict(last_ticks or {})
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None

    async def run(self, exchanges: Iterable[ExchangeSettings]) -> None:
        """Run the feeds until cancelled. A configuration error found by a feed (a symbol
        the exchange does not list) is raised, the first one if several."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for cfg in exchanges:
                    self._start(cfg)
                await asyncio.Future()  # until cancelled
        except* ExchangeSetupError as errors:
            raise _first(errors) from None

    def apply(self, before: Iterable[ExchangeSettings], after: Iterable[ExchangeSettings]) -> None:
        """Reload: stop the feeds of exchanges removed or changed in what a feed uses, start
        those added or changed. A restarted feed records the gap from its last tick, as
        after a restart."""
        old = {e.name: e for e in before}
        new = {e.name: e for e in after}
        for name, cfg in old.items():
            if feed_changed(cfg, new.get(name)):
                task = self._tasks.pop(name, None)
                if task is not None:
                    task.cancel()
                self._last_ticks[name] = self._monitor.last_tick.get(name)
                self._monitor.remove_feed(name)
        for name, cfg in new.items():
            if feed_changed(old.get(name), cfg):
                self._start(cfg)

    async def stop(self) -> None:
        """Nothing to hand over: in-process feeds put straight into the queue and stop when
        run() is cancelled."""

    def _start(self, cfg: ExchangeSettings) -> None:
        if self._group is None:  # not running yet: run() starts what it is given
            return
        status = self._monitor.add_feed(cfg.name, self._clock())
        self._tasks[cfg.name] = self._group.create_task(
            self._feed(cfg, status), name=f"feed-{cfg.name}"
        )

    async def _feed(self, cfg: ExchangeSettings, status: FeedStatus) -> None:
        with structlog.contextvars.bound_contextvars(exchange=cfg.name):
            await feeds.run_feed(
                cfg,
                self._put,
                self._metrics,
                self._clock,
                last_tick=self._last_ticks.get(cfg.name),
                status=status,
            )

    async def _put(self, item: QueueItem) -> None:
        self._monitor.on_item(item)
        await self._queue.put(item)


def _first(group: BaseExceptionGroup[ExchangeSetupError]) -> ExchangeSetupError:
    first = group.exceptions[0]
    return first if isinstance(first, ExchangeSetupError) else _first(first)
