"""The daemon's notifier: the engine's records come in through the storage sink's `put`
(NotifyingSink), feed outages and storage trouble from polling what /healthz reads, the
daily summary from a timer; each target gets what its Route lets through, in its Outlet.

Nothing here makes the engine wait: `offer` only puts records into a bounded inbox (a full
one counts a drop under target="all"), and everything else runs in the notifier's tasks. A
bug in them is logged and the task restarted, never raised into the daemon."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from arbot.errors import ConfigError
from arbot.feeds.status import FeedStatus
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.models import Episode
from arbot.notify import messages
from arbot.notify.ledger import Ledger
from arbot.notify.messages import Message
from arbot.notify.outlet import Outlet
from arbot.notify.route import Route
from arbot.notify.targets import Target, load_targets
from arbot.records import Output, Record, SignalFound, TradeOpened, TradeSettled
from arbot.settings import NotifyTarget, StorageSettings
from arbot.sink import StorageSink
from arbot.storage.batches import BatchWriter

INBOX = 10_000
POLL = 1.0  # seconds between looks at the feeds and the writer
RESTART_AFTER = 5.0
DAY = 86_400
_NOTED = (SignalFound, Episode, TradeOpened, TradeSettled)
_EVENT = {SignalFound: "opportunity", Episode: "episode_closed"}

Clock = Callable[[], float]
Storage = Callable[[], tuple[float, str] | None]


class Notifications:
    def __init__(
        self,
        targets: Sequence[Target],
        metrics: Metrics,
        clock: Clock = time.time,
        *,
        storage_after: float = 10.0,
    ) -> None:
        """`storage_after`: seconds of failing commits before storage is told (as /healthz
        turns degraded: metrics.storage_degraded_after)."""
        self._metrics = metrics
        self._clock = clock
        self._storage_after = storage_after
        self._log = get_logger(component="notify")
        self._inbox: asyncio.Queue[Record] = asyncio.Queue(INBOX)
        self._targets: dict[str, tuple[Route, Outlet]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._ledger = Ledger()
        self._feeds: Mapping[str, FeedStatus] = {}
        self._storage: Storage = lambda: None
        self._down_since: dict[str, float] = {}
        self._storage_since: float | None = None  # told not committing since then
        for target in targets:
            self._add(target)

    def watch(self, feeds: Mapping[str, FeedStatus], storage: Storage) -> None:
        """What to poll: the flow monitor's feeds, the writer's `retrying()`."""
        self._feeds, self._storage = feeds, storage

    def offer(self, records: Iterable[Record]) -> None:
        """From the engine's path: never waits, never raises."""
        if not self._targets:
            return
        for r in records:
            if isinstance(r, _NOTED):
                try:
                    self._inbox.put_nowait(r)
                except asyncio.QueueFull:
                    event = _EVENT.get(type(r), "paper")
                    self._metrics.notifications.labels("all", event, "dropped").inc()

    async def run(self) -> None:
        """Until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            for name in self._targets:
                self._start(name)
            group.create_task(self._supervised("notify-poll", self._poll_loop))
            group.create_task(self._supervised("notify-daily", self._daily_loop))
            await self._supervised("notify-route", self._route_loop)

    def reload(self, targets: Sequence[NotifyTarget], changed: Iterable[str]) -> set[str]:
        """Reload: targets added, removed or changed (their URLs re-read too). Returns the
        changed notify keys applied; a target whose URLs cannot be read keeps the running
        targets (one error line)."""
        try:
            loaded = {t.name: t for t in load_targets(targets)}
        except ConfigError as exc:
            self._log.error("notify_reload_failed", error=str(exc), kept="running targets")
            return set()
        for name in [n for n in self._targets if n not in loaded]:
            self._targets.pop(name)[1].drop_all()
            task = self._tasks.pop(name, None)
            if task is not None:
                task.cancel()
        for name, target in loaded.items():
            if name in self._targets:
                route, outlet = self._targets[name]
                route.configure(target.settings)
                outlet.configure(target)
            else:
                self._add(target)
                self._start(name)
        self._log.info("notify_targets", targets={t.name: list(t.shown) for t in loaded.values()})
        return {k for k in changed if k == "notify" or k.startswith("notify.")}

    def _add(self, target: Target) -> None:
        outlet = Outlet(target, self._metrics, self._clock)
        self._targets[target.name] = (Route(target.settings), outlet)

    def _start(self, name: str) -> None:
        if self._group is not None:  # not running yet: run() starts it
            outlet = self._targets[name][1]
            self._tasks[name] = self._group.create_task(
                self._supervised(f"notify-{name}", outlet.run), name=f"notify-{name}"
            )

    async def _supervised(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        while True:
            try:
                await work()
            except Exception:
                self._log.exception("notify_crashed", task=name, restart_in=RESTART_AFTER)
                await asyncio.sleep(RESTART_AFTER)

    def _to(self, event: str, message: Message) -> None:
        for route, outlet in self._targets.values():
            if route.wants(event):
                outlet.put(message)

    async def _route_loop(self) -> None:
        while True:
            record = await self._inbox.get()
            self._ledger.note((record,))
            now = self._clock()
            if isinstance(record, SignalFound):
                message: Message | None = None
                for route, outlet in self._targets.values():
                    if route.opportunity(record.signal):
                        message = message or messages.opportunity(record.id, record.signal, now)
                        outlet.put(message)
            elif isinstance(record, Episode):
                paper = self._ledger.closed(record)
                closed = messages.episode_closed(record, paper, now)
                for route, outlet in self._targets.values():
                    if route.closed(record):
                        outlet.put(closed)

    async def _poll_loop(self) -> None:
        last = self._clock()
        while True:
            await asyncio.sleep(POLL)
            now = self._clock()
            self._poll(now, now - last)
            last = now

    def _poll(self, now: float, elapsed: float) -> None:
        down: dict[str, tuple[float, str | None]] = {}
        for name, feed in self._feeds.items():
            if feed.down or feed.last_tick is None:
                first = feed.started if feed.last_tick is None else now
                since = self._down_since.setdefault(name, first)
                why = f"{feed.error_kind}: {feed.error_message}"[:200] if feed.error_kind else None
                down[name] = (since, why)
            else:
                self._down_since.pop(name, None)
        self._ledger.feeds((n for n in self._feeds if n not in down), down, elapsed)
        for route, outlet in self._targets.values():
            for message in route.feeds(down, self._feeds.keys(), now):
                outlet.put(message)
        retrying = self._storage()
        if retrying is not None and retrying[0] > self._storage_after:
            if self._storage_since is None:
                self._storage_since = now - retrying[0]
                self._to("storage", messages.storage_trouble(retrying[0], retrying[1], now))
        elif retrying is None and self._storage_since is not None:
            self._to("storage", messages.storage_ok(now - self._storage_since, now))
            self._storage_since = None

    async def _daily_loop(self) -> None:
        midnight = (self._clock() // DAY + 1) * DAY
        while True:
            # A minute at most between looks at the clock: it may jump.
            await asyncio.sleep(min(max(midnight - self._clock(), 0.0), 60.0))
            if self._clock() >= midnight:
                self.daily_summary(midnight)
                midnight += DAY

    def daily_summary(self, day_end: float) -> None:
        """Tell the day that ended at `day_end` (UTC midnight) and start a new one."""
        day = datetime.fromtimestamp(day_end - 1, UTC).date().isoformat()
        facts = self._ledger.close_day()
        self._to("daily_summary", messages.daily_summary(day, facts, self._clock()))


class NotifyingSink(StorageSink):
    """The daemon's storage sink, also handing the engine's records to the notifier."""

    def __init__(
        self,
        notifications: Notifications,
        writer: BatchWriter,
        settings: StorageSettings,
        metrics: Metrics,
    ) -> None:
        super().__init__(writer, settings, metrics)
        self.notifications = notifications

    def put(self, out: Output) -> None:
        super().put(out)
        if out.records:
            self.notifications.offer(out.records)
