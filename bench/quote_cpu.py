"""Where a quote's CPU goes, websocket to committed row: the feed's share (websocket
frames and the event loop, JSON, ccxt, ArBot's capture) from a cProfile of in-process
feeds against two fakes, scaled to the CPU per quote measured without the profiler; the
worker channel (encode + decode), the engine with the detector and the storage path
(pipeline, sink, SQLite writer) timed alone on synthetic ticks. Builtins (str, float,
Decimal, socket calls) count for the part that called them."""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import random
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from arbot.engine import Engine
from arbot.feeds import run_feed
from arbot.localmarket.process import FakeProcess
from arbot.metrics import Metrics
from arbot.records import Resume
from arbot.settings import Settings, StorageSettings
from arbot.tick_queue import TickQueue
from arbot.workers import channel
from bench.capture_workers import SYMBOLS, Tally, exchange_settings
from bench.detector import _params, _ticks
from bench.ingest import EXCHANGES, cpu_seconds, run_pipeline

RATE = 200  # quotes/s per symbol: inside one process's capacity (about 250 here)
ROUNDS = 3  # unprofiled windows: the least CPU counts (a shared machine inflates the rest)
WINDOW = 5.0
FEED_PARTS = ("frame + event loop", "JSON", "ccxt", "capture (ArBot feeds)")
Key = tuple[str, int, str]


def _part(key: Key) -> str | None:
    """The part a profiled function belongs to; None for builtins (their callers')."""
    path, _, name = key
    if path == "~":
        return "JSON" if "json" in name else None
    if "/json/" in path:
        return "JSON"
    if "/ccxt/" in path:
        return "ccxt"
    if "/arbot/" in path:
        return "capture (ArBot feeds)"
    return "frame + event loop"


def _shares(stats: pstats.Stats) -> dict[str, float]:
    raw = stats.stats  # type: ignore[attr-defined]
    parts = dict.fromkeys(FEED_PARTS, 0.0)

    def owner(key: Key, depth: int = 0) -> str:
        part = _part(key)
        if part is not None or depth > 5:
            return part or "frame + event loop"
        callers = raw[key][4]
        top = max(callers, key=lambda c: callers[c][2], default=None)
        return "frame + event loop" if top is None else owner(top, depth + 1)

    for key, (_, _, own, _, callers) in raw.items():
        if _part(key) is not None or not callers:
            parts[owner(key)] += own
            continue
        for caller, (_, _, tt, _) in callers.items():
            parts[owner(caller)] += tt
    total = sum(parts.values())
    return {p: t / total for p, t in parts.items()}


async def _feeds() -> tuple[float, dict[str, float]]:
    """CPU µs per quote of in-process feeds (no profiler), and its shares by part."""
    symbols = tuple(f"T{i:02d}/USDT" for i in range(SYMBOLS))
    with ExitStack() as stack:
        fakes = {
            f"{kind}-{i}": stack.enter_context(
                FakeProcess(kind, symbols, RATE, extra=("--prerendered",))
            )
            for i, kind in enumerate(("binance", "okx"))
        }
        queue, tally = TickQueue(100_000), Tally(SYMBOLS * len(fakes))
        async with asyncio.TaskGroup() as tasks:
            running = [tasks.create_task(tally.drain(queue))] + [
                tasks.create_task(run_feed(exchange_settings(f, n), queue.put, Metrics()))
                for n, f in fakes.items()
            ]
            async with asyncio.timeout(60):
                await tally.all_seen.wait()
            await asyncio.sleep(1.0)
            cpu_us = float("inf")
            for _ in range(ROUNDS):
                cpu0, n0 = time.process_time(), tally.delivered
                await asyncio.sleep(WINDOW)
                spent = (time.process_time() - cpu0) / max(1, tally.delivered - n0) * 1e6
                cpu_us = min(cpu_us, spent)
            profile = cProfile.Profile()
            profile.enable()
            await asyncio.sleep(WINDOW)
            profile.disable()
            for task in running:
                task.cancel()
    return cpu_us, _shares(pstats.Stats(profile))


def _synthetic() -> tuple[float, float]:
    """(channel encode + decode, engine with the detector) µs per tick, 500-tick batches."""
    ticks = _ticks(random.Random(1), 0.0005)[:100_000]
    batches = [ticks[i : i + 500] for i in range(0, len(ticks), 500)]
    head = channel.LENGTH.size + 1
    t0 = time.process_time()
    for b in batches:
        channel.decode_items(channel.encode_items(b)[head:])
    t1 = time.process_time()
    params = {f"ex{i}": _params(f"ex{i}") for i in range(10)}
    engine = Engine(Settings(), params, Resume({}), paper=False)
    for b in batches:
        engine.process(b)
    t2 = time.process_time()
    return (t1 - t0) / len(ticks) * 1e6, (t2 - t1) / len(ticks) * 1e6


def _storage(rows: int = 300_000) -> float:
    """CPU µs per row committed: pipeline, sink and SQLite writer (detector off)."""
    with tempfile.TemporaryDirectory(prefix="arbot-quote-cpu-") as tmp:
        settings = StorageSettings(data_dir=Path(tmp) / "data")
        t0 = cpu_seconds()
        _, committed = asyncio.run(run_pipeline(settings, range(rows // len(EXCHANGES))))
        return (cpu_seconds() - t0) / committed * 1e6


def main() -> None:
    feed_us, shares = asyncio.run(_feeds())
    channel_us, engine_us = _synthetic()
    storage_us = _storage()
    rows = [(p, feed_us * shares[p]) for p in FEED_PARTS] + [
        ("channel (workers: encode + decode)", channel_us),
        ("engine (detector on)", engine_us),
        ("storage (pipeline, sink, writer)", storage_us),
    ]
    total = sum(us for _, us in rows)
    print(
        f"2 fakes x {SYMBOLS} symbols at {RATE}/s/sym (pre-rendered frames), in-process "
        f"feeds: {feed_us:.1f} CPU us/quote (least of {ROUNDS} windows); the rest timed alone"
    )
    print(f"{'part':<36}{'us/quote':>10}{'share':>8}")
    for part, us in rows:
        print(f"{part:<36}{us:>10.1f}{us / total:>8.1%}")
    print(f"{'total':<36}{total:>10.1f}")
