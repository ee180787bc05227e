"""Known data for the database-operations tests: ticks written straight into `ticks`."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Sequence

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
    """Insert ticks the way the writer does: dimension ids, then one executemany."""
    rows = list(rows)
    conn.execute("BEGIN IMMEDIATE")
    for name in {r[0] for r in rows}:
        conn.execute("INSERT OR IGNORE INTO symbols(name) VALUES (?)", (name,))
    for name in {r[1] for r in rows}:
        conn.execute("INSERT OR IGNORE INTO exchanges(name) VALUES (?)", (name,))
    sym = dict(conn.execute("SELECT name, id FROM symbols").fetchall())
    ex = dict(conn.execute("SELECT name, id FROM exchanges").fetchall())
    conn.executemany(
        "INSERT INTO ticks (symbol_id, ts, exchange_id, bid, ask, bid_size, ask_size, "
        "recv_delta_ms) VALUES (?, ?, ?, ?, ?, 1.0, 2.0, 5)",
        [(sym[s], ts, ex[e], bid, ask) for s, e, ts, bid, ask in rows],
    )
    conn.execute("COMMIT")


def expected_bars(rows: Sequence[TickRow], below: float) -> dict[tuple[str, str, int], tuple]:
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
