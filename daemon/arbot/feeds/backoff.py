"""Capped exponential backoff with jitter that honours a server's Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable

# A Retry-After beyond this is treated as this: a feed must come back within the hour.
RETRY_AFTER_MAX = 3600.0


class Backoff:
    """Delays base, 2*base, 4*base ... up to cap, each jittered into [d/2, d] so that many
    feeds failing together do not reconnect in lockstep."""

    def __init__(self, base: float, cap: float, rng: Callable[[], float] = random.random) -> None:
        self.base = base
        self.cap = max(cap, base)
        self._rng = rng
        self.attempts = 0

    def next(self, retry_after: float | None = None) -> float:
        delay = min(self.cap, self.base * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        delay = delay / 2 + self._rng() * delay / 2
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
        return delay

    def reset(self) -> None:
        self.attempts = 0
