"""Tick-to-detection latency through the daemon's path: a producer puts ticks on the
bounded queue at a fixed rate (as feeds do), the pipeline runs them through the engine, the
storage sink commits them to a real arbot.db. Latency = the engine has evaluated the tick
minus the tick's put. Measured twice in one run: while the writer commits normally, and
while another connection holds arbot.db locked (the writer retries, the sink's backlog
grows); the target is p99 <= 2 ms in both."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import QueueItem, Tick
from arbot.pipeline import Pipeline
from arbot.records import Output
from arbot.settings import Settings
from arbot.sink import StorageSink
from arbot.storage.schema import init_all
from arbot.storage.sqlite.writer import Writer
from arbot.tick_queue import TickQueue
from arbot.venues import params_from_settings

RATE = 50_000  # ticks/s
SECONDS = 4.0
STEP = 0.001  # the producer puts RATE * STEP ticks every STEP seconds
SYMBOLS = 100
EXCHANGES = 5


class _Timed(Engine):
    """The engine, noting when each tick's evaluation is done (received = its put time)."""

    latencies: list[float]

    def process(
        self, items: Iterable[QueueItem], now: float | None = None, *, complete: bool = True
    ) -> Output:
        items = list(items)
        out = super().process(items, now, complete=complete)
        done = time.time()
        self.latencies.extend(done - t[7] for t in items if type(t) is Tick)
        return out


def _settings(data_dir: Path) -> Settings:
    names = [f"ex{i}" for i in range(EXCHANGES)]
    return Settings.model_validate(
        {
            "exchanges": [{"id": n, "symbols": ["S0/USDT"]} for n in names],
            "storage": {"data_dir": str(data_dir), "busy_timeout_ms": 0, "batch_size": 5000},
        }
    )


async def _measure(locked: bool) -> tuple[list[float], int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        s = _settings(Path(tmp))
        init_all(s.storage.data_dir)
        metrics = Metrics()
        writer = Writer.open(s.storage, metrics)
        engine = _Timed(s, params_from_settings(s.exchanges), writer.resume_state(), paper=False)
        engine.latencies = []
        sink = StorageSink(writer, s.storage, metrics)
        pipeline = Pipeline(engine, sink, metrics)
        queue = TickQueue(s.storage.queue_size)
        lock = sqlite3.connect(Path(tmp) / "arbot.db", isolation_level=None)
        if locked:
            lock.execute("BEGIN EXCLUSIVE")
        consumer = asyncio.create_task(pipeline.run(queue))
        committer = asyncio.create_task(sink.run())
        rng = random.Random(1)
        quotes = [
            (
                f"ex{rng.randrange(EXCHANGES)}",
                f"S{rng.randrange(SYMBOLS)}/USDT",
                mid - 0.01,
                mid + 0.01,
            )
            for mid in (100.0 * (1 + rng.uniform(-1e-3, 1e-3)) for _ in range(65_536))
        ]
        per_step = int(RATE * STEP)
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while loop.time() - start < SECONDS:
            now = time.time()
            for i in range(sent, sent + per_step):
                ex, sym, bid, ask = quotes[i & 0xFFFF]
                queue.put_nowait(Tick(ex, sym, bid, ask, 1.0, 1.0, now, now))
            sent += per_step
            await asyncio.sleep(max(0.0, start + sent / RATE - loop.time()))
        backlog = sink.backlog
        if locked:
            lock.execute("COMMIT")
        lock.close()
        queue.close()
        await consumer
        await sink.close()
        await committer
        await writer.close()
        return engine.latencies, backlog, sent / (loop.time() - start)


def _row(name: str, lat: list[float], backlog: int, rate: float) -> str:
    q = statistics.quantiles(lat, n=100)
    return (
        f"| {name} | {rate:,.0f} | {len(lat):,} | {q[49] * 1000:.3f} | {q[98] * 1000:.3f} "
        f"| {max(lat) * 1000:.3f} | {backlog:,} |"
    )


def main() -> None:
    normal = asyncio.run(_measure(locked=False))
    blocked = asyncio.run(_measure(locked=True))
    print(f"tick-to-detection latency, {RATE:,} ticks/s for {SECONDS:g} s each")
    print("| writer | ticks/s put | ticks | p50 ms | p99 ms | max ms | backlog at end |")
    print("|---|---|---|---|---|---|---|")
    print(_row("commits normally", *normal))
    print(_row("arbot.db locked", *blocked))
    p99 = [statistics.quantiles(lat, n=100)[98] * 1000 for lat, _, _ in (normal, blocked)]
    print(f"latency: p99 normal={p99[0]:.3f} ms blocked={p99[1]:.3f} ms (target <= 2 ms)")
