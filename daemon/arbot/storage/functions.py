"""SQL functions SQLite lacks (the spec uses STDEV and PERCENTILE_CONT)."""

from __future__ import annotations

import math
import sqlite3


class SampleStdev:
    """Sample standard deviation (n - 1), by Welford's update: stable for large sums."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def step(self, value: float | None) -> None:
        if value is None:
            return
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    def finalize(self) -> float | None:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None


class Median:
    """Exact median (PERCENTILE_CONT(0.5)): the mean of the two middle values when n is even."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        if not self.values:
            return None
        v = sorted(self.values)
        mid = len(v) // 2
        return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def register(conn: sqlite3.Connection) -> None:
    # typeshed's aggregate protocol assumes integer values; ours take and return floats.
    conn.create_aggregate("stdev", 1, SampleStdev)  # type: ignore[arg-type]
    conn.create_aggregate("median", 1, Median)  # type: ignore[arg-type]
