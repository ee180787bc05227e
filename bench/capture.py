"""Capture: of the quotes fake exchanges send, how many reach the feed's queue, and the
feed's CPU cost per delivered quote, with ccxt's watch_* results alone ("watch", the path
before the capture hook) and with every quote ccxt parses ("capture").

3 fake exchanges (binance, okx, kraken) in their own processes, 20 symbols each, numbered
quotes at a fixed rate per symbol; the three feeds run in this process on one event loop
into a bounded queue whose consumer only tallies the numbers (no detector, no writer).
delivered/sent counts distinct numbers received over everything the fakes report sent;
CPU is this process's CPU time over a steady window divided by the quotes delivered in it.
ARBOT_BENCH_CAPTURE_SECONDS sets the window (default 5).

Then capture_workers: the capacity with the feeds in this process vs in two worker
processes, with cheap (pre-rendered) fakes; its workers=1 capacity is the R of the last
line (a ladder of rates, finer than the three above)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass

from arbot.feeds import run_feed
from arbot.localmarket.process import FakeProcess
from arbot.metrics import Metrics
from arbot.models import QueueItem, Tick
from arbot.settings import ExchangeSettings
from bench import capture_workers

RATES = (20, 200, 1000)
KINDS = {"binance": "USDT", "okx": "USDT", "kraken": "USD"}
SYMBOLS = 20
QUEUE_SIZE = 100_000  # the daemon's default storage.queue_size
WINDOW = float(os.environ.get("ARBOT_BENCH_CAPTURE_SECONDS", "5"))
STEADY_WITHIN = 30.0
DRAIN_WITHIN = 30.0


@dataclass(frozen=True, slots=True)
class Run:
    rate: int
    capture: bool
    sent: int
    delivered: int
    sent_per_symbol_s: float  # achieved send rate during the window
    delivered_per_symbol_s: float  # quotes delivered during the window (keeping up?)
    cpu_us: float  # CPU µs per quote delivered during the window

    @property
    def ratio(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0


def _symbols(quote: str) -> tuple[str, ...]:
    # Synthetic bases: no real code, none starting with X/Z (Kraken's legacy prefixes).
    return tuple(f"T{i:02d}/{quote}" for i in range(SYMBOLS))


def _settings(fake: FakeProcess) -> ExchangeSettings:
    return capture_workers.exchange_settings(fake, fake.kind)


class Tally:
    """The queue's consumer: the distinct quote numbers received per (exchange, symbol)."""

    def __init__(self, keys: int) -> None:
        self.numbers: dict[tuple[str, str], set[int]] = {}
        self.delivered = 0
        self.last_at = time.monotonic()
        self.all_seen = asyncio.Event()  # every (exchange, symbol) delivered at least once
        self._keys = keys

    async def drain(self, queue: asyncio.Queue[QueueItem]) -> None:
        while True:
            item = await queue.get()
            if isinstance(item, Tick):
                key = (item.exchange, item.symbol)
                self.numbers.setdefault(key, set()).add(int(item.ask_size or 0))
                self.delivered += 1
                self.last_at = time.monotonic()
                if len(self.numbers) == self._keys:
                    self.all_seen.set()


async def _measure(rate: int, capture: bool) -> Run:
    with ExitStack() as stack:
        fakes = [stack.enter_context(FakeProcess(k, _symbols(q), rate)) for k, q in KINDS.items()]
        queue: asyncio.Queue[QueueItem] = asyncio.Queue(QUEUE_SIZE)
        tally = Tally(SYMBOLS * len(fakes))
        async with asyncio.TaskGroup() as tasks:
            consumer = tasks.create_task(tally.drain(queue))
            feeds = [
                tasks.create_task(run_feed(_settings(f), queue.put, Metrics(), capture=capture))
                for f in fakes
            ]
            # Steady state: every symbol of every fake delivered once (an overloaded
            # "watch" path may never get there: then measure anyway).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STEADY_WITHIN):
                    await tally.all_seen.wait()
            sent0 = sum(_sent_count(f) for f in fakes)
            cpu0, wall0, delivered0 = time.process_time(), time.monotonic(), tally.delivered
            await asyncio.sleep(WINDOW)
            cpu1, wall1, delivered1 = time.process_time(), time.monotonic(), tally.delivered
            sent1 = sum(_sent_count(f) for f in fakes)
            for f in fakes:
                f.silence()
            sent = {(f.kind, s): set(n) for f in fakes for s, n in f.sent().items()}
            # What is in flight arrives within a second of the last tick (or never).
            deadline = time.monotonic() + DRAIN_WITHIN

            def busy() -> bool:
                return time.monotonic() - tally.last_at < 1.0 or not queue.empty()

            while time.monotonic() < deadline and busy():  # noqa: ASYNC110 - waits for silence
                await asyncio.sleep(0.1)
            for task in (*feeds, consumer):
                task.cancel()
    total = sum(len(n) for n in sent.values())
    delivered = sum(len(tally.numbers.get(k, set()) & n) for k, n in sent.items())
    return Run(
        rate,
        capture,
        total,
        delivered,
        (sent1 - sent0) / (wall1 - wall0) / (SYMBOLS * len(fakes)),
        (delivered1 - delivered0) / (wall1 - wall0) / (SYMBOLS * len(fakes)),
        (cpu1 - cpu0) / max(1, delivered1 - delivered0) * 1e6,
    )


def _sent_count(fake: FakeProcess) -> int:
    counters = fake.control("/_control/counters")
    return int(sum(counters["sent"].values()))


def _run(rate: int, capture: bool) -> Run:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_measure(rate, capture))
    raise SystemExit(130)


def main() -> None:
    print(
        f"{len(KINDS)} fake exchanges x {SYMBOLS} symbols, each in its own process; "
        f"{WINDOW:g} s steady window per run; feeds -> bounded queue -> tally"
    )
    print(
        f"{'rate/s/sym':>10}{'path':>9}{'sent':>10}{'delivered':>11}{'deliv/sent':>12}"
        f"{'sent/s/sym':>12}{'deliv/s/sym':>13}{'CPU us/tick':>13}"
    )
    runs: dict[tuple[int, bool], Run] = {}
    for rate in RATES:
        for capture in (False, True):
            r = runs[rate, capture] = _run(rate, capture)
            print(
                f"{rate:>10}{'capture' if capture else 'watch':>9}{r.sent:>10,}"
                f"{r.delivered:>11,}{r.ratio:>12.4f}{r.sent_per_symbol_s:>12.1f}"
                f"{r.delivered_per_symbol_s:>13.1f}{r.cpu_us:>13.1f}",
                flush=True,
            )
    ratios = " ".join(f"{rate}/s={runs[rate, True].ratio:.4f}" for rate in RATES)
    print(
        "rate/s/sym: asked of the fakes; sent/s/sym, deliv/s/sym: achieved in the window "
        "(delivered below sent = falling behind; the rest arrives after, or is lost when the "
        "connection drops); CPU us/tick: this process per quote delivered in the window"
    )
    cap = capture_workers.run()
    # The fakes and this process share the machine: a nominal rate may not be reached, so
    # the limits are stated as the sending rates achieved, not the ones asked for.
    one, two = cap.up_to(1), cap.up_to(2)
    times = f"{two / one:.2f}x" if one else "-"
    print(
        "R, R2: the achieved sending rate per symbol up to which the feeds in this process "
        "(R) or in 2 worker processes (R2) kept up with delivered/sent >= 0.999"
    )
    print(
        f"capture: delivered/sent {ratios}; >=0.999 up to {one:.0f}/s; "
        f"workers=2 up to {two:.0f}/s ({times})"
    )
