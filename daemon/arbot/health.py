"""Is the daemon healthy, and is it stuck? The answers behind /healthz, the systemd watchdog,
STATUS= and the heartbeat line.

Two different questions. *Health* (/healthz) is about data: it flows when an exchange
delivered a tick and the writer committed a batch within a window, and each feed is up,
degraded or down. *Stuck* (the watchdog) is about our own machinery: the event loop runs
(the watchdog task itself is on it), the writer commits while work waits, and each feed's
supervisor either gets answers or sleeps in a scheduled retry. Every exchange being
unreachable is unhealthy but not stuck: a restart could not help."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from arbot.feeds.status import FeedStatus
from arbot.logs import get_logger
from arbot.models import FeedDown, FeedGap, QueueItem, Tick


@dataclass(frozen=True, slots=True)
class Flow:
    flowing: bool
    reason: str


class FlowMonitor:
    """Sees every queue item (`on_item`, on the feeds' put path), samples the pipeline's
    counters (`sample`) and the work waiting for the writer; answers health and liveness."""

    def __init__(
        self,
        exchanges: Iterable[str],
        accepted: Callable[[], int],
        committed: Callable[[], int],
        started: float,
        *,
        waiting: Callable[[], int] = lambda: 0,
        attempts: Callable[[], int] = lambda: 0,
        queue_full: Callable[[], bool] = lambda: False,
        storage: Callable[[], tuple[float, str] | None] = lambda: None,
        workers: Callable[[], tuple[int, int] | None] = lambda: None,
    ) -> None:
        self.started = started
        self.accepted = accepted
        self.committed = committed
        self._waiting = waiting
        # Finished write attempts, failed ones included: a writer retrying against a locked
        # or full database is making progress; a restart would only lose its backlog.
        self._attempts = attempts
        self._seen_attempts = 0
        self._queue_full = queue_full
        self._storage = storage
        # (running, expected) feed worker processes; None: the feeds run in this process.
        self.workers = workers
        self.feeds = {name: FeedStatus(name, started) for name in exchanges}
        self.last_commit: float | None = None
        self._seen_committed = 0
        self._waiting_since: float | None = None
        # (time, accepted, committed) at the previous rate sample.
        self._rate_base = (started, 0, 0)
        self.rates = (0.0, 0.0)

    def add_feed(self, name: str, now: float) -> FeedStatus:
        """The status of feed `name` (a new one when reload adds it)."""
        feed = self.feeds.get(name)
        if feed is None:
            feed = self.feeds[name] = FeedStatus(name, now)
        return feed

    def remove_feed(self, name: str) -> None:
        self.feeds.pop(name, None)

    @property
    def last_tick(self) -> dict[str, float | None]:
        return {name: feed.last_tick for name, feed in self.feeds.items()}

    def on_item(self, item: QueueItem) -> None:
        feed = self.feeds.get(item.exchange)
        if feed is None:
            return
        if isinstance(item, Tick):
            feed.last_tick = item.received
        elif isinstance(item, FeedDown):
            feed.down = True
        elif isinstance(item, FeedGap):
            feed.down = False

    def sample(self, now: float) -> None:
        """Note a commit seen since the last sample and since when work waits for the
        writer; update accepted/committed rates."""
        committed = self.committed()
        if committed > self._seen_committed:
            self._seen_committed = committed
            self.last_commit = now
            self._waiting_since = None
        attempts = self._attempts()
        if attempts > self._seen_attempts:
            self._seen_attempts = attempts
            self._waiting_since = None
        if self._waiting() == 0:
            self._waiting_since = None
        elif self._waiting_since is None:
            self._waiting_since = now
        t0, a0, c0 = self._rate_base
        if now - t0 >= 1.0:
            accepted = self.accepted()
            self.rates = ((accepted - a0) / (now - t0), (committed - c0) / (now - t0))
            self._rate_base = (now, accepted, committed)

    def check(self, now: float, window: float) -> Flow:
        """Flowing if a tick arrived and a batch committed within `window` seconds."""
        self.sample(now)
        last_tick = max((t for t in self.last_tick.values() if t is not None), default=None)
        last_commit = self.last_commit
        if last_tick is None or now - last_tick > window:
            return Flow(False, f"no tick received from any exchange in the last {window:g} s")
        if last_commit is None or now - last_commit > window:
            return Flow(False, f"no batch committed in the last {window:g} s")
        return Flow(True, "data flows")

    def stuck(self, now: float, window: float) -> str | None:
        """Why the daemon's own machinery is stuck, or None: the writer has had work waiting
        for `window` seconds without finishing a write attempt, or a feed supervisor stopped
        moving (unless the queue is full: then it waits on back-pressure, and the writer
        check applies)."""
        self.sample(now)
        if self._waiting_since is not None and now - self._waiting_since > window:
            return (
                f"writer wedged: work waiting and no write attempt ended for "
                f"{now - self._waiting_since:.0f} s"
            )
        if self._queue_full():
            return None
        stuck = [name for name, feed in self.feeds.items() if feed.stuck(now)]
        if stuck:
            return f"feed supervisor not progressing: {', '.join(stuck)}"
        return None

    def feeds_up(self, now: float, window: float = 10.0) -> int:
        """Feeds up or degraded (delivering, maybe with trouble)."""
        return sum(1 for f in self.feeds.values() if f.state(now, window) != "down")

    def status(self, now: float, window: float = 10.0) -> str:
        """One line for systemd's STATUS=: live rates and feeds delivering, or, with every
        feed down, that and why."""
        self.sample(now)
        if self.feeds and self.feeds_up(now, window) == 0:
            why = ", ".join(
                f"{f.name}: {f.error_kind or 'connecting'}" for f in self.feeds.values()
            )
            return f"no exchange delivering, retrying ({why})"
        line = (
            f"ticks {self.rates[0]:.0f}/s accepted, {self.rates[1]:.0f}/s committed; "
            f"feeds live {self.feeds_up(now, window)}/{len(self.feeds)}"
        )
        workers = self.workers()
        return line if workers is None else f"{line}; workers {workers[0]}/{workers[1]}"

    def health(
        self, now: float, window: float, min_feeds_up: int = 1, storage_after: float = 10.0
    ) -> tuple[bool, dict[str, Any]]:
        """/healthz: (healthy, body). Healthy when data flows within `window` and at least
        `min_feeds_up` feeds are up or degraded; "degraded" when healthy with some feed not
        up, or with the writer retrying a batch for longer than `storage_after` (the cause
        is the reason: committing stopped before `window` says data no longer flows)."""
        flow = self.check(now, window)
        feeds = {name: f.report(now, window) for name, f in self.feeds.items()}
        up = sum(1 for r in feeds.values() if r["state"] != "down")
        need = min_feeds_up
        healthy = flow.flowing and up >= need
        if not flow.flowing:
            reason = flow.reason
        elif not healthy:
            reason = f"{up} of {len(feeds)} feeds up, {need} required"
        else:
            reason = flow.reason
        all_up = all(r["state"] == "up" for r in feeds.values())
        status = "unhealthy" if not healthy else "ok" if all_up else "degraded"
        retrying = self._storage()
        storage: dict[str, Any] = {"state": "ok"}
        if retrying is not None and retrying[0] > storage_after:
            seconds, error = retrying
            storage = {"state": "retrying", "seconds": round(seconds, 1), "last_error": error}
            if healthy:
                status = "degraded"
                reason = f"storage not committing for {seconds:.0f} s, retrying ({error})"
            else:
                reason = f"{reason}; the writer is retrying ({error})"
        body = {"status": status, "reason": reason, "feeds_up": up, "feeds": feeds}
        if (workers := self.workers()) is not None:
            body["workers"] = {"running": workers[0], "expected": workers[1]}
        return healthy, body | {"storage": storage}


def waiting_for_storage(retrying: tuple[float, str] | None) -> tuple[bool, dict[str, Any]]:
    """/healthz before the daemon serves, while it reads what the last run left: a server
    down at start-up is waited for, and says so (503: not ready)."""
    storage: dict[str, Any] = {"state": "waiting for storage"}
    reason = "waiting for storage"
    if retrying is not None:
        seconds, error = retrying
        storage |= {"seconds": round(seconds, 1), "last_error": error}
        reason = f"waiting for storage for {seconds:.0f} s ({error})"
    body = {"status": "starting", "reason": reason, "feeds_up": 0, "feeds": {}}
    return False, body | {"storage": storage}


async def heartbeat(
    monitor: FlowMonitor,
    queue_depth: Callable[[], int],
    interval: float,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Until cancelled: one `heartbeat` info line every `interval` seconds with the tick and
    commit rates over that interval, so a healthy daemon with nothing to report is seen
    working in `journalctl -f`."""
    log = get_logger(component="heartbeat")
    since, accepted, committed = clock(), monitor.accepted(), monitor.committed()
    while True:
        await sleep(interval)
        now, a, c = clock(), monitor.accepted(), monitor.committed()
        span = max(now - since, 1e-9)
        log.info(
            "heartbeat",
            ticks_per_second=round((a - accepted) / span, 1),
            commits_per_second=round((c - committed) / span, 1),
            queue_depth=queue_depth(),
            feeds_up=monitor.feeds_up(now),
            feeds=len(monitor.feeds),
        )
        since, accepted, committed = now, a, c
