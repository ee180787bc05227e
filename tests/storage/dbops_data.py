"""Known data for the database-operations tests, written by the daemon's Writer."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import StorageSettings
from arbot.storage.sqlite.writer import Writer

TickRow = tuple[str, str, float, float, float]  # symbol, exchange, ts, bid, ask

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
EXCHANGES = ("binance", "okx", "kraken")


def random_ticks(n: int, start: float, span: float, seed: int = 7) -> list[TickRow]:
    """`n` ticks with distinct (symbol, exchange, ts) spread over [start, start + span)."""
    rng = random.Random(seed)
    seen: set[tuple[str, str, float]] = set()
    out: list[TickRow] = []
    while len(out) < n:
        sym, ex = rng.choice(SYMBOLS), rng.choice(EXCHANGES)
        ts = round(start + rng.random() * span, 3)
        if (sym, ex, ts) in seen:
            continue
        seen.add((sym, ex, ts))
        bid = round(100 + rng.random() * 10, 2)
        out.append((sym, ex, ts, bid, round(bid + rng.random(), 2)))
    return out


def insert_ticks(conn: sqlite3.Connection, rows: Iterable[TickRow]) -> None:
    """Commit ticks into `conn`'s arbot.db through the daemon's Writer (one batch, on its
    own connection and event loop, so sync and async tests alike can call it)."""
    data_dir = Path(conn.execute("PRAGMA database_list").fetchone()[2]).parent
    ticks = [Tick(ex, sym, bid, ask, 1.0, 2.0, ts, ts + 0.005) for sym, ex, ts, bid, ask in rows]

    async def commit() -> None:
        writer = Writer.open(StorageSettings(data_dir=data_dir), Metrics())
        try:
            writer.add(ticks)
            await writer.flush()
        finally:
            await writer.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, commit()).result()


def expected_bars(
    rows: Sequence[TickRow], below: float
) -> dict[tuple[str, str, int], tuple[float, float, float, float, int]]:
    """Hourly mid-price bars computed in plain Python: (open, high, low, close, count)."""
    groups: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for sym, ex, ts, bid, ask in rows:
        if ts < below:
            groups.setdefault((sym, ex, int(ts // 3600) * 3600), []).append((ts, (bid + ask) / 2))
    out = {}
    for key, points in groups.items():
        points.sort()
        mids = [m for _, m in points]
        out[key] = (mids[0], max(mids), min(mids), mids[-1], len(mids))
    return out
