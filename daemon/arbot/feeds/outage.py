"""Whether one feed is up: an outage starts with a FeedDown and ends with a FeedGap at the
first quote after it; between, the backoff paces the retries, and the feed's status and
metrics say what failed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from arbot.errors import FatalFeedError, TransientFeedError
from arbot.feeds.backoff import Backoff
from arbot.feeds.sequence import SequenceCheck
from arbot.feeds.status import SUPERVISOR_SLACK, FeedStatus
from arbot.logs import error_chain
from arbot.metrics import Metrics
from arbot.models import FeedDown, FeedGap, QueueItem
from arbot.settings import ExchangeSettings

Put = Callable[[QueueItem], Awaitable[None]]
FeedError = TransientFeedError | FatalFeedError


class Outage:
    """One feed's up/down state; `last_received` is the receive time of its last quote."""

    def __init__(
        self,
        cfg: ExchangeSettings,
        put: Put,
        metrics: Metrics,
        clock: Callable[[], float],
        log: Any,
        *,
        last_tick: float | None,
        status: FeedStatus | None,
        sequence: SequenceCheck | None,
    ) -> None:
        self.name = cfg.name
        self._watch_timeout = cfg.watch_timeout
        self._put = put
        self._metrics = metrics
        self._clock = clock
        self._log = log
        self._sequence = sequence
        # Delays scale with the poll interval so tests with tiny intervals stay fast;
        # production (poll_interval >= 1 s) gets 1 s .. 60 s.
        base = min(1.0, cfg.poll_interval)
        self.backoff = Backoff(base, 60 * base)
        # A previous run's last tick makes this run start "down since then".
        self.last_received: float | None = last_tick
        self._down_since: float | None = last_tick
        self._down_reason = "restart" if last_tick is not None else ""
        self._started = clock()
        self.status = status or FeedStatus(cfg.name, self._started)
        self.status.stuck_after = 2 * max(cfg.watch_timeout, cfg.poll_interval) + SUPERVISOR_SLACK
        # Since when every answer was rejected (None: the last answer had a valid quote).
        self._rejecting_since: float | None = None
        self._offline_hinted = False
        metrics.seconds_since_tick.labels(self.name).set_function(self._seconds_since_tick)

    async def failed(self, exc: FeedError, where: str) -> None:
        """Mark the feed down, then wait out the backoff (or the server's Retry-After)."""
        await self.down(exc, where)
        retry_after = exc.retry_after if isinstance(exc, TransientFeedError) else None
        delay = self.backoff.next(retry_after)
        if isinstance(exc, FatalFeedError):
            # Retrying cannot fix it, but giving up would silence the exchange for good.
            delay = self.backoff.cap
        self.status.retrying(self._clock() + delay)
        if not self._offline_hinted and _unresolved(exc):
            self._offline_hinted = True
            self._log.warning(
                "exchange_host_not_found",
                hint="no DNS answer for the exchange's host: without internet, `make demo` "
                "(or `arbot demo`) runs the daemon against a built-in local market",
            )
        self._log.warning(
            "feed_error",
            where=where,
            error=str(exc),
            cause=error_chain(exc),
            retry_in=round(delay, 3),
            retry_after=retry_after,
        )
        await asyncio.sleep(delay)

    async def down(self, exc: FeedError, where: str) -> None:
        self.count_error(exc)
        self._metrics.reconnects.labels(self.name).inc()
        self._metrics.feed_up.labels(self.name).set(0)
        if self._sequence is not None:
            self._sequence.reset()
        if self._down_since is None and self.last_received is not None:
            self._down_since = self._clock()
            self._down_reason = f"{where} {_kind(exc)}"
            self._log.warning(
                "feed_down", reason=self._down_reason, error=str(exc), cause=error_chain(exc)
            )
            await self._put(FeedDown(self.name, self._down_since, self._down_reason))

    def count_error(self, exc: FeedError) -> None:
        self._metrics.feed_errors.labels(self.name, _kind(exc)).inc()
        self.status.failed(self._clock(), _kind(exc), str(exc))

    async def resume(self, received: float) -> None:
        """A valid quote received then: the feed is up, and an outage before it a gap."""
        if self.last_received is None:
            self._down_since = None  # set when a never-up feed only sent garbage
            self._metrics.feed_up.labels(self.name).set(1)
            self._log.info("feed_up")
        elif self._down_since is not None:
            start = self.last_received
            self._log.info(
                "feed_resumed", gap_seconds=round(received - start, 3), reason=self._down_reason
            )
            await self._put(FeedGap(self.name, start, received, self._down_reason))
            self._down_since = None
            self._metrics.feed_up.labels(self.name).set(1)
        self.last_received = received

    async def check_rejecting(self, valid: int, received: float) -> None:
        """Answers that keep coming but carry no valid quote (an HTML maintenance page, a
        changed format) for watch_timeout mean the feed is down, as silence would."""
        if valid:
            self._rejecting_since = None
            return
        if self._rejecting_since is None:
            self._rejecting_since = received
            return
        timeout = self._watch_timeout
        if received - self._rejecting_since < timeout or self._down_since is not None:
            return
        exc = TransientFeedError(
            f"every answer rejected as malformed for {timeout:g} s", kind="malformed"
        )
        if self.last_received is not None:
            await self.down(exc, "data")
        else:  # never up: nothing to record a gap from, but say it once
            self.count_error(exc)
            self._down_since = received
            self._log.warning("feed_down", reason="data malformed", error=str(exc))

    def _seconds_since_tick(self) -> float:
        """From start-up for a feed that never delivered."""
        return max(0.0, self._clock() - (self.last_received or self._started))


def _kind(exc: Exception) -> str:
    return exc.kind if isinstance(exc, TransientFeedError) else "fatal"


def _unresolved(exc: BaseException) -> bool:
    """Whether a DNS lookup failed under `exc` (aiohttp's ClientConnectorDNSError, the
    resolver's gaierror): no internet, or a wrong host name."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if type(seen).__name__ in ("ClientConnectorDNSError", "gaierror"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
