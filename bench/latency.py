"""Tick-to-detection latency through the daemon's path: a producer puts ticks on the
bounded queue at a fixed rate (as feeds do), the pipeline runs them through the engine, the
storage sink commits them to a real arbot.db. Latency = the engine has evaluated the tick
minus the tick's put. Measured twice in one run: while the writer commits normally, and
while another connection holds arbot.db locked (the writer retries, the sink's backlog
grows); the target is p99 <= 2 ms in both. Then the same path with the notifier on the sink
and one json:// target: detection -> delivered to a local receiver (p50/p95), and
tick-to-detection while the target is a dead port."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import QueueItem, Tick
from arbot.notify.service import Notifications, NotifyingSink
from arbot.notify.targets import load_targets
from arbot.pipeline import Pipeline
from arbot.records import Output, SignalFound
from arbot.settings import NotifyTarget, Settings
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
    notifications()


# Notifications: the same path with the notifier on the sink (an opportunity every
# DISLOCATE_EVERY s, one json:// target), to a local receiver and to a dead port.
DISLOCATE_EVERY = 0.25


class _Receiver(ThreadingHTTPServer):
    """A webhook on 127.0.0.1 in its own thread: when each signal's message arrived."""

    arrived: dict[int, float]


class _Hook(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.arrived[json.loads(body["message"])["id"]] = time.time()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass  # no line per request


class _TimedSink(NotifyingSink):
    """Notes when each signal was handed to the notifier (its detection)."""

    detected: dict[int, float]

    def put(self, out: Output) -> None:
        now = time.time()
        self.detected.update((r.id, now) for r in out.records if isinstance(r, SignalFound))
        super().put(out)


async def _measure_notify(
    url: str | None, arrived: dict[int, float]
) -> tuple[list[float], list[float]]:
    """(tick-to-detection latencies, detection-to-delivered latencies); no target when
    `url` is None (the same ticks and opportunities, nothing to send)."""
    with tempfile.TemporaryDirectory() as tmp:
        s = _settings(Path(tmp))
        init_all(s.storage.data_dir)
        urls = Path(tmp) / "notify.urls"
        urls.write_text(f"{url}\n")
        urls.chmod(0o600)
        target = NotifyTarget(
            urls_file=urls, name="bench", rate_limit=1000, events=("opportunity",)
        )
        metrics = Metrics()
        writer = Writer.open(s.storage, metrics)
        engine = _Timed(s, params_from_settings(s.exchanges), writer.resume_state(), paper=False)
        engine.latencies = []
        notify = Notifications(load_targets([target]) if url else (), metrics)
        sink = _TimedSink(notify, writer, s.storage, metrics)
        sink.detected = {}
        pipeline = Pipeline(engine, sink, metrics)
        queue = TickQueue(s.storage.queue_size)
        tasks = [
            asyncio.create_task(pipeline.run(queue)),
            asyncio.create_task(sink.run()),
            asyncio.create_task(notify.run()),
        ]
        rng = random.Random(2)
        per_step = int(RATE * STEP)
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = dislocations = 0
        while loop.time() - start < SECONDS:
            now = time.time()
            for _ in range(per_step):
                ex, sym = f"ex{rng.randrange(EXCHANGES)}", f"S{rng.randrange(SYMBOLS)}/USDT"
                mid = 100.0 * (1 + rng.uniform(-1e-3, 1e-3))
                queue.put_nowait(Tick(ex, sym, mid - 0.01, mid + 0.01, 1.0, 1.0, now, now))
            sent += per_step
            if loop.time() - start >= dislocations * DISLOCATE_EVERY:  # ex0 bids 0.7 % up
                sym = f"S{dislocations % SYMBOLS}/USDT"
                queue.put_nowait(Tick("ex0", sym, 100.7, 100.72, 1.0, 1.0, now, now))
                dislocations += 1
            await asyncio.sleep(max(0.0, start + sent / RATE - loop.time()))
        await asyncio.sleep(1.0)  # the last messages
        queue.close()
        await tasks[0]
        await sink.close()
        await tasks[1]
        tasks[2].cancel()
        await writer.close()
        delivered = [arrived[i] - t for i, t in sink.detected.items() if i in arrived]
        return engine.latencies, delivered


def _quantiles(values: list[float], *at: int) -> str:
    if len(values) < 2:
        return " | ".join("-" for _ in at)
    q = statistics.quantiles(values, n=100)
    return " | ".join(f"{q[p - 1] * 1000:.3f}" for p in at)


def notifications() -> None:
    server = _Receiver(("127.0.0.1", 0), _Hook)
    server.arrived = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    port = server.server_address[1]
    none = asyncio.run(_measure_notify(None, {}))
    live = asyncio.run(_measure_notify(f"json://127.0.0.1:{port}/hook", server.arrived))
    dead = asyncio.run(_measure_notify(f"json://127.0.0.1:{dead_port}/hook", {}))
    server.shutdown()
    print(
        f"\nnotifications, {RATE:,} ticks/s for {SECONDS:g} s, an opportunity every "
        f"{DISLOCATE_EVERY:g} s, one json:// target (none: the same load, no target)"
    )
    print("| target | messages delivered | detection -> delivered p50 ms | p95 ms "
          "| tick-to-detection p50 ms | p99 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    rows = (("none", none), ("local receiver", live), ("dead (closed port)", dead))
    for name, (ticks, delivered) in rows:
        print(f"| {name} | {len(delivered)} | {_quantiles(delivered, 50, 95)} "
              f"| {_quantiles(ticks, 50, 99)} |")  # fmt: skip
