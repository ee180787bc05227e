"""Cost per call of the depth math (arbot.detector.depth) on 10-level books: a book pair that
does not cross (the common case), crosses ending after 2 and 10 levels, and limits that
bind. `python -m bench depth` (a `make bench` part)."""

from __future__ import annotations

import timeit
from collections.abc import Callable

from arbot.detector.depth import Level, Trade, best_trade, edge_at_notional

LEVELS = 10
TICK = 0.01
FEES = {"taker_buy": 0.001, "taker_sell": 0.001}


def _book(best: float, step: float) -> list[Level]:
    return [(round(best + step * k, 2), 0.5 + 0.1 * k) for k in range(LEVELS)]


def _books(cross_ticks: int, bid_gap: int) -> tuple[list[Level], list[Level]]:
    """Asks from 100.00 up a tick a level, bids from 100.00 + cross_ticks down bid_gap."""
    return _book(100.0, TICK), _book(100.0 + cross_ticks * TICK, -bid_gap * TICK)


def _per_call_ns(call: Callable[[], object]) -> float:
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    # Best of 5: the machine is shared, the minimum is the least disturbed run.
    return min(timer.repeat(5, number)) / number * 1e9


def main() -> None:
    na, nb = _books(-2, 1)
    ta, tb = _books(40, 10)  # the third bid level is below the fees' break-even
    aa, ab = _books(60, 1)
    limits = {"min_profit_percent": 0.05, "min_notional": 100.0, "max_notional": 900.0}
    trades: list[tuple[str, Callable[[], Trade | None]]] = [
        ("no cross", lambda: best_trade(na, nb, **FEES)),
        ("cross over 2 levels", lambda: best_trade(ta, tb, **FEES)),
        ("cross over 10 levels", lambda: best_trade(aa, ab, **FEES)),
        ("cross over 10 levels, 3 limits", lambda: best_trade(aa, ab, **FEES, **limits)),
    ]
    print(f"{LEVELS}-level books, asks from 100.00 up 0.01 a level, taker fees 0.1 %")
    print(f"{'best_trade':<34}{'ns/call':>10}{'q*':>9}{'levels':>8}")
    for label, trade_call in trades:
        trade = trade_call()
        q = f"{trade.quantity:.3f}" if trade else "None"
        touched = f"{trade.levels_buy}/{trade.levels_sell}" if trade else ""
        print(f"{label:<34}{_per_call_ns(trade_call):>10.0f}{q:>9}{touched:>8}")
    edges: list[tuple[str, Callable[[], float | None]]] = [
        ("1 level", lambda: edge_at_notional(aa, ab, 30.0, **FEES)),
        ("10 levels", lambda: edge_at_notional(aa, ab, 900.0, **FEES)),
    ]
    print(f"{'edge_at_notional':<34}{'ns/call':>10}{'edge %':>9}")
    for label, edge_call in edges:
        edge = edge_call()
        print(f"{label:<34}{_per_call_ns(edge_call):>10.0f}{edge or 0.0:>9.4f}")


if __name__ == "__main__":
    main()
