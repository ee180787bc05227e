"""Detector cost per tick: 1,000 symbols quoted by 10 exchanges each (median, p99, ticks/s);
then the same with 10-level order books (depth > 0): each update a book and its top's tick,
as the depth feed sends them, against top-of-book ticks of the same run."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

from arbot.detector import Detector
from arbot.models import Book, ExchangeParams, Level, Tick
from arbot.settings import DetectorSettings

SYMBOLS = 1_000
EXCHANGES = 10
TICKS = 300_000
TICK_INTERVAL = 1e-4  # 10k ticks/s of simulated time: every quote stays fresh
LEVELS = 10
BOOK_UPDATES = 50_000  # 10-level books are ~40x a tick's memory: fewer, same paths
SIZES = (1_000.0, 10_000.0)


def _params(name: str) -> ExchangeParams:
    return ExchangeParams(name, True, True, None, 0.0, 0.001, 0.001, 10.0, 10_000.0)


def _ticks(rng: random.Random, noise: float) -> list[Tick]:
    """Quotes scattered around a per-symbol mid: with 0.1 % taker fees on both legs a cross
    above the 0.1 % threshold is rare, as in a real market (mostly the no-signal path)."""
    mids = [rng.uniform(1.0, 50_000.0) for _ in range(SYMBOLS)]
    names = [f"ex{i}" for i in range(EXCHANGES)]
    symbols = [f"S{i}/USDT" for i in range(SYMBOLS)]
    out: list[Tick] = []
    t = 1_700_000_000.0
    for n in range(TICKS + SYMBOLS * EXCHANGES):
        # The first pass quotes every (symbol, exchange) once so all books are full.
        s = n // EXCHANGES % SYMBOLS if n < SYMBOLS * EXCHANGES else rng.randrange(SYMBOLS)
        e = n % EXCHANGES if n < SYMBOLS * EXCHANGES else rng.randrange(EXCHANGES)
        mid = mids[s] * (1.0 + rng.uniform(-noise, noise))
        half = mids[s] * 0.0001
        t += TICK_INTERVAL
        out.append(Tick(names[e], symbols[s], mid - half, mid + half, 1.0, 1.0, t, t))
    return out


def _book(tick: Tick, rng: random.Random) -> Book:
    """A 10-level book whose top is `tick`, levels 0.01 % apart."""
    step = tick.bid * 0.0001

    def side(best: float, sign: int) -> tuple[Level, ...]:
        return tuple((best + sign * k * step, rng.uniform(0.1, 3.0)) for k in range(LEVELS))

    bids, asks = side(tick.bid, -1), side(tick.ask, 1)
    return Book(tick.exchange, tick.symbol, bids, asks, tick.timestamp, tick.received)


def _timer_overhead(clock: Callable[[], int]) -> int:
    start = clock()
    return clock() - start


def _run(noise: float, books: bool = False) -> tuple[float, float, float, int, int, float]:
    rng = random.Random(7)
    ticks = _ticks(rng, noise)
    warm, timed = ticks[: SYMBOLS * EXCHANGES], ticks[SYMBOLS * EXCHANGES :]
    if books:
        timed = timed[:BOOK_UPDATES]
    settings = DetectorSettings(sizes=SIZES) if books else DetectorSettings()
    detector = Detector(settings, {f"ex{i}": _params(f"ex{i}") for i in range(EXCHANGES)})
    # One call per update: a tick alone (depth 0), or the tick with its book (depth > 0).
    calls: list[Callable[[], Sequence[object]]] = [
        partial(detector.on_instant, [tick], tick.received, [_book(tick, rng)])
        if books
        else partial(detector.on_tick, tick, tick.received)
        for tick in timed
    ]
    for tick in warm:
        if books:
            detector.on_instant([tick], tick.received, [_book(tick, rng)])
        else:
            detector.on_tick(tick, tick.received)
    clock = time.perf_counter_ns
    samples: list[int] = []
    outputs = 0
    for call in calls:
        start = clock()
        result = call()
        samples.append(clock() - start)
        outputs += len(result)
    start = clock()
    for call in calls:
        call()
    throughput = len(calls) / ((clock() - start) / 1e9)
    start = clock()
    for _ in range(10):
        detector.best_spreads()
    spreads_ms = (clock() - start) / 10 / 1e6
    samples.sort()
    median = statistics.median(samples) / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    return median, p99, throughput, outputs, detector.open_episodes(), spreads_ms


def main() -> None:
    clock = time.perf_counter_ns
    overhead = min(_timer_overhead(clock) for _ in range(1000)) / 1000
    print(
        f"symbols={SYMBOLS} exchanges/symbol={EXCHANGES} timed ticks={TICKS:,} "
        f"(timer overhead {overhead:.2f} us, included)"
    )
    print(
        f"{'scenario':<40}{'median us':>10}{'p99 us':>10}{'ticks/s':>12}{'outputs':>10}{'open':>7}"
        f"{'best_spreads ms':>17}"
    )
    # ±0.1 %: nothing crosses fees + threshold (the common path); ±0.2 %: ~1 in 3 ticks
    # touches an open episode (a stress case far busier than a real market).
    medians: dict[tuple[str, bool], float] = {}
    for books in (False, True):
        for label, noise in (("quiet (quotes ±0.1 %)", 0.001), ("busy (quotes ±0.2 %)", 0.002)):
            median, p99, rate, outputs, open_now, spreads_ms = _run(noise, books)
            medians[label, books] = median
            name = f"{label}, {LEVELS}-level books" if books else label
            print(
                f"{name:<40}{median:>10.2f}{p99:>10.2f}{rate:>12,.0f}{outputs:>10,}"
                f"{open_now:>7}{spreads_ms:>17.2f}"
            )
    print("target: median <= 5 us on the quiet path; best_spreads() runs at every flush")
    ratios = [medians[label, True] / medians[label, False] for label, _ in medians if _ is False]
    print(
        f"books/top-of-book median per update: quiet {ratios[0]:.2f}x, busy {ratios[1]:.2f}x "
        f"(goal: <= 2x; sizes {SIZES})"
    )
