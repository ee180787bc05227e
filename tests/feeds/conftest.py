"""Feed tests run ccxt for real against local fake exchanges; helpers to run one feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from arbot.feeds import run_feed
from arbot.metrics import Metrics
from arbot.models import FeedDown, FeedGap, QueueItem, Tick
from arbot.settings import ExchangeSettings

CCXT_ID = {"rest": "coinbaseexchange"}
SYMBOLS = {"kraken": ("BTC/USD", "ETH/USD"), "rest": ("BTC/USD", "ETH/USD")}


def symbols_for(kind: str) -> tuple[str, ...]:
    return SYMBOLS.get(kind, ("BTC/USDT", "ETH/USDT"))


def settings(kind: str, url: str, **overrides: Any) -> ExchangeSettings:
    """Small timeouts and intervals so every failure path resolves in well under a second."""
    values: dict[str, Any] = {
        "id": CCXT_ID.get(kind, kind),
        "name": f"fake-{kind}",
        "symbols": symbols_for(kind),
        "mode": "ws",
        "poll_interval": 0.05,
        "watch_timeout": 0.5,
        "url_override": url,
        "ccxt_config": {"enableRateLimit": False},
    }
    values.update(overrides)
    return ExchangeSettings(**values)


class Sink:
    """Collects what a feed puts; tests wait on predicates over it."""

    def __init__(self) -> None:
        self.items: list[QueueItem] = []
        self._changed = asyncio.Event()

    async def put(self, item: QueueItem) -> None:
        self.items.append(item)
        self._changed.set()

    @property
    def ticks(self) -> list[Tick]:
        return [i for i in self.items if isinstance(i, Tick)]

    @property
    def downs(self) -> list[FeedDown]:
        return [i for i in self.items if isinstance(i, FeedDown)]

    @property
    def gaps(self) -> list[FeedGap]:
        return [i for i in self.items if isinstance(i, FeedGap)]

    async def wait(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()

    async def ticks_after(self, count: int, within: float = 10.0) -> list[Tick]:
        """Wait for `count` ticks beyond those already collected; return the new ones."""
        start = len(self.ticks)
        await self.wait(lambda: len(self.ticks) >= start + count, within)
        return self.ticks[start:]


@contextlib.asynccontextmanager
async def running(cfg: ExchangeSettings, metrics: Metrics) -> AsyncIterator[Sink]:
    sink = Sink()
    task = asyncio.create_task(run_feed(cfg, sink.put, metrics))
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture(scope="session", autouse=True)
def _import_ccxt_once() -> None:
    """`import ccxt.pro` costs ~0.7 s: pay it once, before the first timed wait."""
    import ccxt.pro  # noqa: F401
