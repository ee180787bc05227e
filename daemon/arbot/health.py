"""Does data flow? The answer behind the systemd watchdog, /healthz and STATUS=.

Data flows when at least one exchange delivered a tick and the writer committed a batch
within a window. For the watchdog, start-up counts as the last event of both, so a daemon
just started (still loading markets) gets one window of grace before it stops being fed;
/healthz has no grace (503 until data flows)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from arbot.logs import get_logger
from arbot.models import QueueItem, Tick


@dataclass(frozen=True, slots=True)
class Flow:
    flowing: bool
    reason: str


class FlowMonitor:
    """Sees every queue item (`on_item`, on the feeds' put path) and samples the pipeline's
    committed counter (`sample`); answers `check(now, window)`."""

    def __init__(
        self,
        exchanges: Iterable[str],
        accepted: Callable[[], int],
        committed: Callable[[], int],
        started: float,
    ) -> None:
        self.started = started
        self.accepted = accepted
        self.committed = committed
        self.last_tick: dict[str, float | None] = dict.fromkeys(exchanges)
        self.last_commit: float | None = None
        self._seen_committed = 0
        # (time, accepted, committed) at the previous rate sample.
        self._rate_base = (started, 0, 0)
        self.rates = (0.0, 0.0)

    def on_item(self, item: QueueItem) -> None:
        if isinstance(item, Tick):
            self.last_tick[item.exchange] = item.received

    def sample(self, now: float) -> None:
        """Note a commit seen since the last sample; update accepted/committed rates."""
        committed = self.committed()
        if committed > self._seen_committed:
            self._seen_committed = committed
            self.last_commit = now
        t0, a0, c0 = self._rate_base
        if now - t0 >= 1.0:
            accepted = self.accepted()
            self.rates = ((accepted - a0) / (now - t0), (committed - c0) / (now - t0))
            self._rate_base = (now, accepted, committed)

    def check(self, now: float, window: float, *, grace: bool = False) -> Flow:
        """Flowing if a tick arrived and a batch committed within `window` seconds; with
        `grace`, the start-up time counts as both."""
        self.sample(now)
        floor = [self.started] if grace else []
        ticks = [t for t in self.last_tick.values() if t is not None]
        last_tick = max([*ticks, *floor], default=None)
        commits = [] if self.last_commit is None else [self.last_commit]
        last_commit = max([*commits, *floor], default=None)
        if last_tick is None or now - last_tick > window:
            return Flow(False, f"no tick received from any exchange in the last {window:g} s")
        if last_commit is None or now - last_commit > window:
            return Flow(False, f"no batch committed in the last {window:g} s")
        return Flow(True, "data flows")

    def feeds_up(self, now: float) -> int:
        """Feeds that delivered a tick in the last 10 s."""
        return sum(1 for t in self.last_tick.values() if t is not None and now - t < 10)

    def status(self, now: float) -> str:
        """One line for systemd's STATUS=: live rates and feeds delivering."""
        self.sample(now)
        return (
            f"ticks {self.rates[0]:.0f}/s accepted, {self.rates[1]:.0f}/s committed; "
            f"feeds live {self.feeds_up(now)}/{len(self.last_tick)}"
        )


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
            feeds=len(monitor.last_tick),
        )
        since, accepted, committed = now, a, c
