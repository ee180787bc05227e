"""Seeded random order-book streams on the 1e-8 grid, and what storing them must give back:
levels inserted, removed and changed, the best prices moving, resyncs (a fresh book), keys
interleaved, books at the instant of the previous one and a few stamped before it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from arbot.models import Book, Level

E8 = 100_000_000


@dataclass
class _Market:
    """The venue's full book of one key, in price ticks and lots; `depth` levels are sent."""

    tick: int  # price tick in 1e-8
    lot: int  # amount lot in 1e-8
    depth: int
    bids: dict[int, int] = field(default_factory=dict)  # price ticks -> lots
    asks: dict[int, int] = field(default_factory=dict)

    def fresh(self, rng: random.Random, mid: int) -> None:
        self.bids = {mid - k: rng.randint(1, 5000) for k in range(1, 40) if rng.random() < 0.8}
        self.asks = {mid + k: rng.randint(1, 5000) for k in range(1, 40) if rng.random() < 0.8}
        self.bids.setdefault(mid - 1, 10)
        self.asks.setdefault(mid + 1, 10)

    def change(self, rng: random.Random) -> None:
        for _ in range(rng.randint(1, 10)):
            side = self.bids if rng.random() < 0.5 else self.asks
            best = max(self.bids) if side is self.bids else min(self.asks)
            away = -1 if side is self.bids else 1
            roll = rng.random()
            if roll < 0.6:  # an amount changes, mostly near the top
                price = sorted(side, key=lambda p: away * p)[
                    min(int(rng.expovariate(0.3)), len(side) - 1)
                ]
                side[price] = rng.randint(1, 5000)
            elif roll < 0.8:  # a level appears (maybe a new best, never crossing)
                price = best + away * rng.randint(-1, 25)
                other = self.asks if side is self.bids else self.bids
                inner = min(other) if side is self.bids else max(other)
                if (price < inner) if side is self.bids else (price > inner):
                    side[price] = rng.randint(1, 5000)
            elif len(side) > 3:  # a level goes
                del side[rng.choice(list(side))]

    def levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        def side(levels: dict[int, int], descending: bool) -> tuple[Level, ...]:
            top = sorted(levels, reverse=descending)[: self.depth]
            return tuple((p * self.tick / E8, levels[p] * self.lot / E8) for p in top)

        return side(self.bids, True), side(self.asks, False)


def random_books(
    seed: int,
    count: int,
    *,
    start: float,
    keys: tuple[tuple[str, str], ...] = (
        ("okx", "BTC/USDT"),
        ("okx", "ETH/USDT"),
        ("binance", "BTC/USDT"),
    ),
    resync_rate: float = 0.01,
) -> list[Book]:
    """`count` books over the keys, a random key at each step, time moving 0-400 ms a step."""
    rng = random.Random(seed)
    markets = {}
    for exchange, symbol in keys:
        m = _Market(
            tick=rng.choice((10**6, 5 * 10**5, 10**4)),
            lot=rng.choice((10**3, 10**5, 1)),
            depth=rng.randint(10, 20),
        )
        m.fresh(rng, rng.randint(1_000, 10_000_000))
        markets[(exchange, symbol)] = m
    books: list[Book] = []
    last: dict[tuple[str, str], float] = {}
    clock = start
    for _ in range(count):
        key = rng.choice(keys)
        m = markets[key]
        clock += rng.choice((0.0, 0.001, 0.05, 0.2, 0.4))
        ts = round(clock, 3)
        roll = rng.random()
        if key in last and roll < 0.05:
            ts = last[key]  # the same instant as the key's previous book
        elif key in last and roll < 0.07:
            ts = last[key] - 0.5  # stamped before it
        resync = rng.random() < resync_rate
        if resync:
            m.fresh(rng, (max(m.bids) + min(m.asks)) // 2 + rng.randint(-50, 50))
        else:
            m.change(rng)
        bids, asks = m.levels()
        books.append(Book(key[0], key[1], bids, asks, ts, ts + rng.randint(0, 300) / 1000, resync))
        last[key] = max(ts, last.get(key, ts))
    return books


def stored_instants(books: list[Book]) -> dict[tuple[str, str, float], Book]:
    """What each stored instant must rebuild to, by (exchange, symbol, stored time): per key
    the times never go back (a book stamped before the key's last one is stored at that
    one's time), the last book of an instant wins and a resync at an instant stays marked."""
    out: dict[tuple[str, str, float], Book] = {}
    last: dict[tuple[str, str], float] = {}
    for book in books:
        key = (book.exchange, book.symbol)
        ts = max(book.timestamp, last.get(key, book.timestamp))
        last[key] = ts
        earlier = out.get((*key, ts))
        resync = book.resync or (earlier is not None and earlier.resync)
        out[(*key, ts)] = book._replace(timestamp=ts, resync=resync)
    return out
