"""Which quotes a fake exchange sent, by per-symbol sequence number, so a test or the
bench can compare exactly what was sent with what was stored."""

from __future__ import annotations

from collections import Counter


class SentLog:
    """Numbers each published quote per symbol (1, 2, 3 ...) and keeps the numbers that
    went out in valid frames as runs [first, last] (a steady stream is one run)."""

    def __init__(self) -> None:
        self.published: Counter[str] = Counter()
        self._runs: dict[str, list[list[int]]] = {}

    def next(self, symbol: str) -> int:
        self.published[symbol] += 1
        return self.published[symbol]

    def sent(self, symbol: str, number: int) -> None:
        runs = self._runs.setdefault(symbol, [])
        if runs and runs[-1][1] == number - 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])

    def runs(self) -> dict[str, list[list[int]]]:
        return {symbol: [list(r) for r in runs] for symbol, runs in self._runs.items()}


def expand(runs: list[list[int]]) -> list[int]:
    """[[1, 3], [5, 5]] -> [1, 2, 3, 5]."""
    return [n for first, last in runs for n in range(first, last + 1)]
