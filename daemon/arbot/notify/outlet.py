"""One target's delivery: its bounded queue, the rate limit that folds the overflow into one
"N more" message, and retries with backoff while the service fails.

The rate limit allows `rate_limit` messages in any 60 s. What comes beyond is folded: each
message counted, none sent. The fold goes out as one message once the burst has paused for
FOLD_LINGER (one over the limit, at most once a minute), or else as soon as the window has
room. A message is retried, with the ones behind it waiting, until it is delivered or
`max_age` old (then counted failed); a target's failure is logged when it starts and when
it ends, never with a URL beyond its mask."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable

from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.notify import messages
from arbot.notify.adapter import Channel
from arbot.notify.messages import Message
from arbot.notify.targets import Scrubber, Target

WINDOW = 60.0
FOLD_LINGER = 1.0
FIRST_RETRY = 1.0
MAX_RETRY = 30.0

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class Outlet:
    """`put` never waits; `run` delivers until cancelled."""

    def __init__(
        self,
        target: Target,
        metrics: Metrics,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._log = get_logger(component="notify")
        self._queue: deque[Message] = deque()
        self._wake = asyncio.Event()
        self._sent: deque[float] = deque()  # when each of the last minute's messages went
        self._fold: Counter[str] = Counter()
        self._fold_since = 0.0
        self._fold_last = 0.0
        self._extra_at = -WINDOW  # when a fold last went out beyond the limit
        self._failing: str | None = None
        self._failing_since = 0.0
        self._urls: tuple[str, ...] = ()
        self._channels: list[tuple[Channel, str]] = []  # (channel, its masked URL)
        self.configure(target)

    def configure(self, target: Target) -> None:
        """Take new settings or URLs (a reload); what waits is sent with them."""
        self.target = target
        if target.urls != self._urls:
            self._urls = target.urls
            scrub = Scrubber(target.urls)
            pairs = zip(target.urls, target.shown, strict=True)
            self._channels = [(Channel(url, scrub), shown) for url, shown in pairs]

    def count(self, event: str, result: str) -> None:
        self._metrics.notifications.labels(self.target.name, event, result).inc()

    def put(self, message: Message) -> None:
        if len(self._queue) >= self.target.settings.queue_size:
            self.count(message.event, "dropped")
            return
        self._queue.append(message)
        self._wake.set()

    def drop_all(self) -> None:
        """The target was removed: what waits is dropped (counted)."""
        for message in self._queue:
            self.count(message.event, "dropped")
        self._queue.clear()

    async def run(self) -> None:
        while True:
            now = self._clock()
            if self._fold and self._fold_due(now):
                await self._send_fold(now)
            elif self._queue:
                message = self._queue.popleft()
                if now - message.at > self.target.settings.max_age:
                    self.count(message.event, "failed")  # waited too long to be worth sending
                    await asyncio.sleep(0)  # a long queue must not hold the loop
                elif self._fold or not self._room(now):
                    self._add_to_fold(message, now)
                    await asyncio.sleep(0)
                else:
                    self._sent.append(now)
                    await self._deliver(message)
            else:
                await self._wait(now)

    def _room(self, now: float) -> bool:
        while self._sent and now - self._sent[0] >= WINDOW:
            self._sent.popleft()
        return len(self._sent) < self.target.settings.rate_limit

    def _fold_due(self, now: float) -> bool:
        if self._room(now):
            return True
        quiet = not self._queue and now - self._fold_last >= FOLD_LINGER
        return quiet and now - self._extra_at >= WINDOW

    def _add_to_fold(self, message: Message, now: float) -> None:
        if not self._fold:
            self._fold_since = message.at
        self._fold[message.event] += 1
        self._fold_last = now
        self.count(message.event, "folded")

    async def _send_fold(self, now: float) -> None:
        if self._room(now):
            self._sent.append(now)
        else:
            self._extra_at = now
        limit = self.target.settings.rate_limit
        message = messages.folded(self._fold, self._fold_since, now, limit)
        self._fold = Counter()
        await self._deliver(message)

    async def _wait(self, now: float) -> None:
        """Until a message comes, or until a waiting fold may go."""
        timeout: float | None = None
        if self._fold:
            linger = self._fold_last + FOLD_LINGER - now
            room = self._sent[0] + WINDOW - now if self._sent else 0.0
            timeout = max(min(max(linger, self._extra_at + WINDOW - now), room), 0.01)
        self._wake.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _deliver(self, message: Message) -> None:
        """Send to every URL of the target, retrying only those that failed."""
        channels = self._channels
        title, body = message.title, message.body(self.target.as_json)
        pending = list(range(len(channels)))
        delay = FIRST_RETRY
        while True:
            if channels is not self._channels:  # a reload changed the URLs: all of them anew
                channels = self._channels
                pending = list(range(len(channels)))
            results = await asyncio.gather(
                *(channels[i][0].send(title, body, message.level) for i in pending)
            )
            failed = [(i, why) for i, why in zip(pending, results, strict=True) if why]
            if not failed:
                self._state(None)
                self.count(message.event, "delivered")
                return
            i, why = failed[0]
            self._state(f"{channels[i][1]}: {why}")
            pending = [i for i, _ in failed]
            if self._clock() + delay - message.at > self.target.settings.max_age:
                self.count(message.event, "failed")
                return
            await self._sleep(delay)
            delay = min(delay * 2, MAX_RETRY)

    def _state(self, error: str | None) -> None:
        """Log a change between delivering and failing, not every attempt."""
        name = self.target.name
        if error is not None and self._failing is None:
            self._failing_since = self._clock()
            self._log.warning(
                "notify_target_failing", target=name, error=error, waiting=len(self._queue)
            )
        elif error is None and self._failing is not None:
            self._log.info(
                "notify_target_recovered",
                target=name,
                failed_for=round(self._clock() - self._failing_since, 1),
                waiting=len(self._queue),
            )
        self._failing = error
