"""One feed's state as its supervisor reports it, read by health (/healthz, the watchdog)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FeedState = Literal["up", "degraded", "down"]
# A feed supervisor silent this long past its own timeouts is stuck: covers a markets load
# (several requests under ccxt's 10 s HTTP timeout) on top of 2 x watch_timeout.
SUPERVISOR_SLACK = 60.0


@dataclass(slots=True)
class FeedStatus:
    """One feed as its supervisor reports it (errors, progress, retries) and as the queue
    sees it (ticks, down, resumed)."""

    name: str
    started: float
    stuck_after: float = 2 * 30.0 + SUPERVISOR_SLACK
    last_tick: float | None = None
    down: bool = False
    error_kind: str | None = None
    error_message: str | None = None
    error_at: float | None = None
    progress: float | None = None  # last time a call to the exchange returned or failed
    retry_until: float | None = None  # asleep in a scheduled retry until then

    def __post_init__(self) -> None:
        if self.progress is None:
            self.progress = self.started

    def answered(self, now: float) -> None:
        self.progress = now
        self.retry_until = None

    def failed(self, now: float, kind: str, message: str) -> None:
        self.answered(now)
        self.error_kind, self.error_message, self.error_at = kind, message, now

    def retrying(self, until: float) -> None:
        self.retry_until = until

    def state(self, now: float, window: float) -> FeedState:
        """down: never delivered, or marked down; degraded: delivering, but the last tick is
        older than `window` or an error happened within it; else up."""
        if self.last_tick is None or self.down:
            return "down"
        if now - self.last_tick > window or (
            self.error_at is not None and now - self.error_at <= window
        ):
            return "degraded"
        return "up"

    def stuck(self, now: float) -> bool:
        if self.retry_until is not None and now < self.retry_until:
            return False
        return now - (self.progress or self.started) > self.stuck_after

    def report(self, now: float, window: float) -> dict[str, Any]:
        error = (
            None
            if self.error_at is None
            else {
                "kind": self.error_kind,
                "message": self.error_message,
                "seconds_ago": round(now - self.error_at, 3),
            }
        )
        return {
            "state": self.state(now, window),
            "seconds_since_last_tick": round(now - (self.last_tick or self.started), 3),
            "last_error": error,
        }
