"""Price sources for the fake exchanges: seeded synthetic prices, and replay of the recorded
Binance bookTicker captures shipped in data/."""

from __future__ import annotations

import asyncio
import gzip
import heapq
import json
import math
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

DATA_DIR = Path(__file__).parent / "data"
_START_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "XRP": 0.6, "DOGE": 0.12}
_QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")


class Quote(NamedTuple):
    """A best bid/ask as a fake exchange will send it; `ts` (UNIX seconds) is None when the
    venue sends no event time."""

    symbol: str
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    ts: float | None


class PriceSource(Protocol):
    symbols: Sequence[str]

    def initial(self) -> list[Quote]:
        """Quotes to serve before the stream starts (REST answers at once)."""
        ...

    def quotes(self) -> AsyncIterator[Quote]: ...


@dataclass
class RandomWalk:
    """Each symbol's mid follows a path of the wall clock (a few slow waves, `swing_bps`
    deep, the same for every venue) plus per-quote random noise (`noise_bps`, from `seed`):
    venues agree at the same instant up to noise, so their spreads are their `offset`s
    (relative, 0.002 = +0.2 %) and the periodic dislocations, which the demo detects.
    Quotes are paced evenly, `rate` per second per symbol, one at a time (so a client
    never receives two in one read)."""

    symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT")
    rate: float = 10.0
    seed: int = 0
    offset: float = 0.0
    spread_bps: float = 2.0
    swing_bps: float = 30.0
    noise_bps: float = 1.0
    dislocation_every: float = 0.0
    dislocation_size: float = 0.005
    dislocation_length: float = 2.0
    _waves: dict[str, list[tuple[float, float, float]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        # (amplitude, period seconds, phase) per wave, seeded by the symbol alone: every
        # venue quoting a symbol follows one path, whatever its seed.
        self._waves = {
            s: [
                (w, paths.uniform(p / 2, p), paths.uniform(0, 2 * math.pi))
                for w, p in ((1.0, 600.0), (0.5, 120.0), (0.2, 20.0))
            ]
            for s in self.symbols
            for paths in [random.Random(s)]
        }

    def mid(self, symbol: str, now: float) -> float:
        path = sum(a * math.sin(2 * math.pi * now / p + ph) for a, p, ph in self._waves[symbol])
        return start_price(symbol) * math.exp(path * self.swing_bps / 1e4)

    def step(self, symbol: str, now: float) -> Quote:
        mid = self.mid(symbol, now) * math.exp(self._rng.gauss(0.0, self.noise_bps / 1e4))
        shift = self.offset
        if self.dislocation_every > 0 and now % self.dislocation_every < self.dislocation_length:
            shift += self.dislocation_size
        half = mid * self.spread_bps / 2e4
        centre = mid * (1.0 + shift)
        sizes = (round(self._rng.uniform(0.1, 5.0), 4), round(self._rng.uniform(0.1, 5.0), 4))
        return Quote(symbol, centre - half, centre + half, sizes[0], sizes[1], now)

    def initial(self) -> list[Quote]:
        return [self.step(s, time.time()) for s in self.symbols]

    async def quotes(self) -> AsyncIterator[Quote]:
        gap = 1.0 / (self.rate * len(self.symbols))
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            for symbol in self.symbols:
                due += gap
                await asyncio.sleep(max(0.0, due - loop.time()))
                yield self.step(symbol, time.time())


def start_price(symbol: str) -> float:
    """Where a symbol's synthetic price path is centred (its order of magnitude)."""
    return _START_PRICES.get(symbol.split("/", maxsplit=1)[0], 100.0)


def unified_symbol(market_id: str) -> str:
    """BTCUSDT -> BTC/USDT (the captures hold only Binance ids)."""
    for quote in _QUOTE_ASSETS:
        if market_id.endswith(quote) and len(market_id) > len(quote):
            return f"{market_id[: -len(quote)]}/{quote}"
    raise ValueError(f"cannot split Binance market id {market_id!r}")


@dataclass
class Replay:
    """Replays capture files (`<recv ns> <combined-stream JSON>` a line) at their recorded
    pace times `speed`, looping; event times are moved to the present."""

    files: Sequence[Path]
    speed: float = 1.0
    loop: bool = True
    symbols: Sequence[str] = field(init=False)

    def __post_init__(self) -> None:
        found: list[str] = []
        for path in self.files:
            _, payload = next(_lines(path))
            symbol = unified_symbol(payload["data"]["s"])
            if symbol not in found:
                found.append(symbol)
        self.symbols = tuple(found)

    @classmethod
    def venue(cls, venue: str, speed: float = 1.0, loop: bool = True) -> Replay:
        """The shipped captures of one venue: 'spot' or 'usdm'."""
        files = sorted(DATA_DIR.glob(f"{venue}_*_bookticker_*.gz"))
        if not files:
            raise ValueError(f"no capture files for venue {venue!r} in {DATA_DIR}")
        return cls(files, speed, loop)

    def initial(self) -> list[Quote]:
        first: dict[str, Quote] = {}
        for path in self.files:
            _, payload = next(_lines(path))
            q = _quote(payload["data"])
            first.setdefault(q.symbol, q)
        return list(first.values())

    async def quotes(self) -> AsyncIterator[Quote]:
        loop = asyncio.get_running_loop()
        while True:
            merged = heapq.merge(*(_lines(p) for p in self.files), key=lambda line: line[0])
            start_ns: int | None = None
            started = loop.time()
            for recv_ns, payload in merged:
                if start_ns is None:
                    start_ns = recv_ns
                due = started + (recv_ns - start_ns) / 1e9 / self.speed
                # Yield to the loop even when behind schedule: the fake shares it with the
                # client under test, which must not be starved.
                await asyncio.sleep(max(0.0, due - loop.time()))
                yield _quote(payload["data"])
            if not self.loop:
                return


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with gzip.open(path, "rt") as fh:
        for line in fh:
            ns, _, payload = line.partition(" ")
            yield int(ns), json.loads(payload)


def _quote(data: dict[str, Any]) -> Quote:
    """A bookTicker payload as a Quote; a frame with an event time gets the present one."""
    return Quote(
        unified_symbol(data["s"]),
        float(data["b"]),
        float(data["a"]),
        float(data["B"]),
        float(data["A"]),
        time.time() if "E" in data else None,
    )
