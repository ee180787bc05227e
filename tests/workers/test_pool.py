"""The supervisor with real worker processes against a fake exchange: a worker that stops
answering (SIGSTOP) past the stall bound is an outage of its exchange (FeedDown, then a
FeedGap when its restarted feed delivers), killed, counted and restarted; stop() hands over
everything the workers sent before it returns."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from prometheus_client import CollectorRegistry

from arbot.health import FlowMonitor
from arbot.localmarket.process import FakeProcess
from arbot.metrics import Metrics
from arbot.models import FeedDown, FeedGap, QueueItem, Tick
from arbot.settings import ExchangeSettings, LoggingSettings
from arbot.tick_queue import TickQueue
from arbot.workers.pool import WorkerPool
from tests.integration.process import eventually
from tests.reliability.config import exchange

SYMBOLS = ("BTC/USDT", "ETH/USDT")


async def test_a_stalled_worker_is_an_outage_then_restarted() -> None:
    with FakeProcess("binance", SYMBOLS, 20) as fake:
        cfg = ExchangeSettings.model_validate(exchange("binance", "binance", fake.url, SYMBOLS))
        queue = TickQueue(10_000)
        monitor = FlowMonitor(
            ["binance"], accepted=lambda: 0, committed=lambda: 0, started=time.time()
        )
        metrics = Metrics(CollectorRegistry())
        pool = WorkerPool(
            2, queue, monitor, metrics, LoggingSettings(format="json"), stall_after=2.0
        )
        seen: list[QueueItem] = []

        async def consume() -> None:
            while True:
                items, _ = await queue.take(1000, 0.1)
                seen.extend(items)

        async with asyncio.TaskGroup() as tg:
            consumer = tg.create_task(consume())
            running = tg.create_task(pool.run([cfg]))
            await eventually(lambda: any(isinstance(i, Tick) for i in seen), lambda: "a tick", 90)
            assert pool.alive() == (1, 1)  # one exchange: the second worker is idle
            (stalled,) = pool.pids().values()
            os.kill(stalled, signal.SIGSTOP)
            await eventually(
                lambda: any(isinstance(i, FeedGap) for i in seen),
                lambda: f"a gap after the restart; last items {seen[-3:]}",
                90,
            )
            kinds = [type(i) for i in seen]
            down, gap = kinds.index(FeedDown), kinds.index(FeedGap)
            assert down < gap and Tick in kinds[gap:]
            assert seen[down].reason == "worker stalled"  # type: ignore[union-attr]
            assert pool.pids()[0] != stalled
            restarts = metrics.registry.get_sample_value(
                "arbot_feed_worker_restarts_total", {"worker": "0"}
            )
            assert restarts == 1
            fake.silence()
            await asyncio.sleep(1.0)
            await pool.stop()
            await running
            assert pool.alive() == (0, 1)
            consumer.cancel()
        received = metrics.registry.get_sample_value(
            "arbot_ticks_received_total", {"exchange": "binance"}
        )
        assert received is not None
        ticks = sum(1 for i in seen if isinstance(i, Tick))
        # Every tick the second worker's feed counted was handed over (the first one's last
        # half second of counts died with it, so at least as many came as it reported).
        assert ticks >= received
