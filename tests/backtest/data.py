"""A small known market for backtests: okx and binance quoting BTC/USDT every 100 ms.

From t0+2 s binance's bid sits 0.6 % above okx's ask for 3 s (a lasting opportunity); at
t0+8 s a single binance quote spikes 0.6 % and the next one is back (a vanishing one)."""

from __future__ import annotations

import csv
from pathlib import Path

T0 = 1_723_111_200.0  # 2024-08-08 10:00:00 UTC
HEADER = ("ts", "exchange", "symbol", "bid", "bid_size", "ask", "ask_size")


def quotes(seconds: float = 10.0) -> list[tuple[float, str, str, float, float, float, float]]:
    rows = []
    steps = round(seconds * 10)
    for i in range(steps):
        t = round(T0 + i * 0.1, 3)
        rows.append((t, "okx", "BTC/USDT", 99.99, 2.0, 100.0, 2.0))
        mid = 100.0
        if 20 <= i < 50 or i == 80:
            mid = 100.65
        rows.append((round(t + 0.05, 3), "binance", "BTC/USDT", mid - 0.01, 1.5, mid, 1.5))
    return rows


def write_csv(path: Path, *, millis: bool = False, seconds: float = 10.0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for row in quotes(seconds):
            ts = round(row[0] * 1000) if millis else row[0]
            w.writerow((ts, *row[1:]))
    return path
