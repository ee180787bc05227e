"""Capture capacity with the feeds in this process (workers=1) and in two feed worker
processes (workers=2, the daemon's WorkerPool), part of the capture bench.

4 fake exchanges (binance, okx, twice each, so each worker gets one of each), 15 symbols
each, in their own processes sending pre-rendered numbered frames (localmarket's
`--prerendered`: a few µs a quote, so the fakes leave the cores to ArBot). Each mode
climbs a ladder of rates until a run falls short; a run passes when delivered/sent
>= 0.999 and the quotes delivered during the steady window keep up with those sent
(>= 0.99), as a backlog still draining after the window is not capacity. CPU is summed
over this process and the worker processes (/proc/<pid>/stat) over the window, per
quote delivered. ARBOT_BENCH_CAPTURE_ROUNDS sets the rounds (default 2; the best
capacity of each mode counts, and both modes run alternately, so they share the noise).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from arbot.event_loop import loop_factory
from arbot.feeds import run_feed
from arbot.health import FlowMonitor
from arbot.localmarket.process import FakeProcess
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import ExchangeSettings, LoggingSettings
from arbot.tick_queue import TickQueue
from arbot.workers.pool import WorkerPool

FAKES = (("binance", "USDT"), ("okx", "USDT"), ("binance", "USDT"), ("okx", "USDT"))
SYMBOLS = 15
LADDER = (100, 200, 300, 350, 400, 450, 500, 550, 600, 650, 700, 800, 1000)  # asked, /s/symbol
QUEUE_SIZE = 100_000
WINDOW = float(os.environ.get("ARBOT_BENCH_CAPTURE_SECONDS", "5"))
ROUNDS = int(os.environ.get("ARBOT_BENCH_CAPTURE_ROUNDS", "2"))
STEADY_WITHIN = 60.0  # worker processes start fresh interpreters and load ccxt
DRAIN_WITHIN = 30.0
QUIET = 3.0  # seconds without a delivery that end the drain (workers pause under load)
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Run:
    workers: int
    rate: int
    sent: int
    delivered: int
    sent_per_symbol_s: float
    delivered_per_symbol_s: float
    cpu_us: float  # ArBot's CPU (all its processes) per quote delivered in the window
    own_us: float  # of which this process's (the daemon's side: channel, queue, tally)
    fakes_cpu: float  # the fakes' CPU over the window, in cores

    @property
    def ratio(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0

    @property
    def passed(self) -> bool:
        keeps_up = self.delivered_per_symbol_s >= 0.99 * self.sent_per_symbol_s
        return self.ratio >= 0.999 and keeps_up


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def exchange_settings(fake: FakeProcess, name: str) -> ExchangeSettings:
    return ExchangeSettings(
        id=fake.kind,
        name=name,
        symbols=fake.symbols,
        mode="ws",
        url_override=fake.url,
        watch_timeout=5.0,
        ccxt_config={"enableRateLimit": False},
        ccxt_options={"fetchMarkets": {"types": ["spot"]}},
    )


class Tally:
    """The queue's consumer: the distinct quote numbers received per (exchange, symbol)."""

    def __init__(self, keys: int) -> None:
        self.numbers: dict[tuple[str, str], set[int]] = {}
        self.delivered = 0
        self.last_at = time.monotonic()
        self.all_seen = asyncio.Event()
        self._keys = keys

    async def drain(self, queue: TickQueue) -> None:
        while True:
            items, _ = await queue.take(1000, 1.0)
            for item in items:
                if isinstance(item, Tick):
                    key = (item.exchange, item.symbol)
                    self.numbers.setdefault(key, set()).add(int(item.ask_size or 0))
                    self.delivered += 1
            if items:
                self.last_at = time.monotonic()
                if len(self.numbers) == self._keys:
                    self.all_seen.set()


async def _measure(workers: int, rate: int) -> Run:
    symbols = tuple(f"T{i:02d}/USDT" for i in range(SYMBOLS))
    with ExitStack() as stack:
        fakes = {
            f"{kind}-{i}": stack.enter_context(
                FakeProcess(kind, symbols, rate, extra=("--prerendered",))
            )
            for i, (kind, _) in enumerate(FAKES)
        }
        exchanges = [exchange_settings(f, name) for name, f in fakes.items()]
        queue = TickQueue(QUEUE_SIZE)
        tally = Tally(SYMBOLS * len(fakes))
        metrics = Metrics()
        pool: WorkerPool | None = None
        feeds: list[Coroutine[Any, Any, None]]
        if workers > 1:
            monitor = FlowMonitor(fakes, lambda: 0, lambda: 0, time.time())
            pool = WorkerPool(workers, queue, monitor, metrics, LoggingSettings(level="error"))
            feeds = [pool.run(exchanges)]
        else:
            feeds = [run_feed(e, queue.put, metrics) for e in exchanges]
        async with asyncio.TaskGroup() as tasks:
            running = [tasks.create_task(tally.drain(queue))]
            running += [tasks.create_task(feed) for feed in feeds]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STEADY_WITHIN):
                    await tally.all_seen.wait()
            await asyncio.sleep(1.0)  # past the connections' first burst

            def ours() -> float:
                pids = pool.pids().values() if pool is not None else ()
                return time.process_time() + sum(cpu_seconds(p) for p in pids)

            def theirs() -> float:
                return sum(cpu_seconds(f.proc.pid) for f in fakes.values())

            sent0 = sum(sent_count(f) for f in fakes.values())
            own0, cpu0, fake0 = time.process_time(), ours(), theirs()
            wall0, delivered0 = time.monotonic(), tally.delivered
            await asyncio.sleep(WINDOW)
            own1, cpu1, fake1 = time.process_time(), ours(), theirs()
            wall1, delivered1 = time.monotonic(), tally.delivered
            sent1 = sum(sent_count(f) for f in fakes.values())
            for f in fakes.values():
                f.silence()
            sent = {(n, s): set(x) for n, f in fakes.items() for s, x in f.sent().items()}
            deadline = time.monotonic() + DRAIN_WITHIN
            while time.monotonic() < deadline and (  # noqa: ASYNC110 - waits for silence
                time.monotonic() - tally.last_at < QUIET or not queue.empty()
            ):
                await asyncio.sleep(0.1)
            for task in running:
                task.cancel()
    total = sum(len(n) for n in sent.values())
    delivered = sum(len(tally.numbers.get(k, set()) & n) for k, n in sent.items())
    wall, keys = wall1 - wall0, SYMBOLS * len(fakes)
    return Run(
        workers,
        rate,
        total,
        delivered,
        (sent1 - sent0) / wall / keys,
        (delivered1 - delivered0) / wall / keys,
        (cpu1 - cpu0) / max(1, delivered1 - delivered0) * 1e6,
        (own1 - own0) / max(1, delivered1 - delivered0) * 1e6,
        (fake1 - fake0) / wall,
    )


def sent_count(fake: FakeProcess) -> int:
    return int(sum(fake.control("/_control/counters")["sent"].values()))


def measure(workers: int, rate: int) -> Run:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:  # as the daemon runs
        return runner.run(_measure(workers, rate))


@dataclass(frozen=True, slots=True)
class Capacity:
    best: dict[int, Run | None]  # workers -> the passing run with the highest sent rate
    runs: list[Run]

    def up_to(self, workers: int) -> float:
        run = self.best[workers]
        return run.sent_per_symbol_s if run is not None else 0.0


def ladder(report: Callable[[Run], None]) -> Capacity:
    """Each round climbs the ladder with both modes alternately until each falls short."""
    runs: list[Run] = []
    best: dict[int, Run | None] = {1: None, 2: None}
    for _ in range(ROUNDS):
        climbing = {1, 2}
        for rate in LADDER:
            for workers in sorted(climbing):
                r = measure(workers, rate)
                runs.append(r)
                report(r)
                if not r.passed:
                    climbing.discard(workers)
                    continue
                top = best[workers]
                if top is None or r.sent_per_symbol_s > top.sent_per_symbol_s:
                    best[workers] = r
            if not climbing:
                break
    return Capacity(best, runs)


HEADER = (
    f"{'workers':>7}{'rate/s/sym':>11}{'sent':>10}{'deliv/sent':>11}{'sent/s/sym':>11}"
    f"{'deliv/s/sym':>12}{'CPU us/q':>9}{'own us/q':>9}{'fakes CPU':>10}{'pass':>5}"
)


def row(r: Run) -> str:
    return (
        f"{r.workers:>7}{r.rate:>11}{r.sent:>10,}{r.ratio:>11.4f}{r.sent_per_symbol_s:>11.1f}"
        f"{r.delivered_per_symbol_s:>12.1f}{r.cpu_us:>9.1f}{r.own_us:>9.1f}{r.fakes_cpu:>10.2f}"
        f"{'yes' if r.passed else 'no':>5}"
    )


def run() -> Capacity:
    """Print the workers=1 vs workers=2 rows; the capacities found."""
    print(
        f"\nworkers: {len(FAKES)} fakes x {SYMBOLS} symbols, pre-rendered frames; "
        f"{ROUNDS} round(s), {WINDOW:g} s window; CPU: this process + worker processes"
    )
    print(HEADER)
    cap = ladder(lambda r: print(row(r), flush=True))
    one, two = cap.best[1], cap.best[2]
    if one is not None and two is not None:
        # CPU per quote of each mode at its capacity (the figure), and at the
        # highest rate both carried: there two event loops at half the load each wake
        # for fewer messages at a time than one loop does, so a quote costs more.
        passed = [r for r in cap.runs if r.passed]
        rate = max(
            {r.rate for r in passed if r.workers == 1} & {r.rate for r in passed if r.workers == 2}
        )
        same1, same2 = (
            min(r.cpu_us for r in passed if (r.workers, r.rate) == (w, rate)) for w in (1, 2)
        )
        print(
            f"workers=1 up to {one.sent_per_symbol_s:.0f}/s/sym "
            f"({one.sent_per_symbol_s * SYMBOLS * len(FAKES):,.0f} quotes/s, "
            f"{one.cpu_us:.1f} us/quote), workers=2 up to {two.sent_per_symbol_s:.0f}/s/sym "
            f"({two.sent_per_symbol_s * SYMBOLS * len(FAKES):,.0f} quotes/s, "
            f"{two.cpu_us:.1f} us/quote): {two.sent_per_symbol_s / one.sent_per_symbol_s:.2f}x, "
            f"CPU per quote at capacity {two.cpu_us / one.cpu_us:.2f}x; at {rate}/s/sym "
            f"both: {same1:.1f} vs {same2:.1f} us/quote ({same2 / same1:.2f}x)"
        )
    # Past capacity, what each mode still delivered: the throughput when saturated.
    peak = {w: max(r.delivered_per_symbol_s for r in cap.runs if r.workers == w) for w in (1, 2)}
    print(
        f"peak delivered in a window: workers=1 {peak[1]:.0f}/s/sym, workers=2 "
        f"{peak[2]:.0f}/s/sym ({peak[2] / peak[1]:.2f}x)"
    )
    return cap


def main() -> None:
    run()
