"""Random 10-level order books of two venues (seeded) and the three book layouts they are
written in: wide, Tardis book_snapshot_10 and Tardis incremental_book_L2."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from arbot.models import Level

T0_US = 1_723_161_254_000_000
LEVELS = 10
VENUES = ("a", "b")
SYMBOL = "BTC/USDT"
TARDIS_SYMBOL = "BTCUSDT"
Side = tuple[Level, ...]


@dataclass(frozen=True)
class Snap:
    """One venue's book at `us` (µs; the exchange's time and the received time)."""

    venue: str
    us: int
    bids: Side
    asks: Side


def random_books(n: int = 600, seed: int = 7) -> list[Snap]:
    """Books around a common random walk; venue b's drifts ±0.4 % away now and then (more
    than both taker fees), so crosses open and close both ways. Some updates change only
    deeper levels, some change nothing, some are thinner than 10 levels, and both venues
    update in the same microsecond now and then (one instant)."""
    rng = random.Random(seed)
    mid, dislocation, us = 100.0, 0.0, T0_US
    current: dict[str, tuple[Side, Side]] = {}
    out: list[Snap] = []
    for i in range(n):
        us += rng.choice([10_000, 50_000, 200_000])
        mid *= 1 + rng.gauss(0, 0.0002)
        if i % 60 == 0:
            dislocation = rng.choice([-0.004, 0.0, 0.004])
        both = rng.random() < 0.2
        for venue in VENUES if both else (rng.choice(VENUES),):
            m = mid * (1 + dislocation) if venue == "b" else mid
            previous = current.get(venue)
            roll = rng.random()
            if previous is not None and roll < 0.05:
                bids, asks = previous  # nothing changed
            elif previous is not None and roll < 0.35:
                bids, asks = _deeper_change(rng, *previous)
            else:
                bids, asks = _fresh(rng, m)
            current[venue] = (bids, asks)
            out.append(Snap(venue, us, bids, asks))
    return out


def _fresh(rng: random.Random, mid: float) -> tuple[Side, Side]:
    depth = LEVELS if rng.random() < 0.9 else rng.randint(3, LEVELS - 1)
    bid = round(mid - rng.choice([0.005, 0.01, 0.02]), 2)
    ask = round(max(mid + rng.choice([0.005, 0.01, 0.02]), bid + 0.01), 2)
    bids, asks = [], []
    for _ in range(depth):
        bids.append((bid, round(rng.uniform(0.05, 3.0), 4)))
        asks.append((ask, round(rng.uniform(0.05, 3.0), 4)))
        bid = round(bid - rng.choice([0.01, 0.02, 0.05]), 2)
        ask = round(ask + rng.choice([0.01, 0.02, 0.05]), 2)
    return tuple(bids), tuple(asks)


def _deeper_change(rng: random.Random, bids: Side, asks: Side) -> tuple[Side, Side]:
    on_bids = rng.random() < 0.5
    side = list(bids if on_bids else asks)
    k = rng.randrange(1, len(side))
    side[k] = (side[k][0], round(rng.uniform(0.05, 3.0), 4))
    return (tuple(side), asks) if on_bids else (bids, tuple(side))


def wide_header(levels: int = LEVELS) -> list[str]:
    n = range(1, levels + 1)
    return [
        *("ts", "exchange", "symbol"),
        *(f"b{i}" for i in n),
        *(f"bv{i}" for i in n),
        *(f"a{i}" for i in n),
        *(f"av{i}" for i in n),
    ]


def wide_row(s: Snap, levels: int = LEVELS) -> list[object]:
    def column(side: Side, field: int) -> list[object]:
        return [side[i][field] if i < len(side) else "" for i in range(levels)]

    return [
        *(s.us, s.venue, SYMBOL),
        *column(s.bids, 0),
        *column(s.bids, 1),
        *column(s.asks, 0),
        *column(s.asks, 1),
    ]


def write_wide(path: Path, snaps: list[Snap], order: list[int] | None = None) -> Path:
    """The wide layout; `order` permutes its columns."""
    header, rows = wide_header(), [wide_row(s) for s in snaps]
    if order is not None:
        header = [header[i] for i in order]
        rows = [[row[i] for i in order] for row in rows]
    return _write(path, header, rows)


def snapshot_header(levels: int = LEVELS) -> list[str]:
    levels_columns = [
        f"{side}[{i}].{field}"
        for i in range(levels)
        for side in ("asks", "bids")
        for field in ("price", "amount")
    ]
    return ["exchange", "symbol", "timestamp", "local_timestamp", *levels_columns]


def snapshot_row(s: Snap, levels: int = LEVELS) -> list[object]:
    row: list[object] = [s.venue, TARDIS_SYMBOL, s.us, s.us]
    for i in range(levels):
        for side in (s.asks, s.bids):
            row += list(side[i]) if i < len(side) else ["", ""]
    return row


def write_snapshot(path: Path, snaps: list[Snap]) -> Path:
    return _write(path, snapshot_header(), [snapshot_row(s) for s in snaps])


INCREMENTAL_HEADER = [
    *("exchange", "symbol", "timestamp", "local_timestamp"),
    *("is_snapshot", "side", "price", "amount"),
]


def incremental_rows(snaps: list[Snap]) -> list[list[object]]:
    """Each venue's first book as a snapshot, then each change as level updates (amount
    0 deletes a level); a book equal to the last has no rows. Two updates of venue a come
    before its snapshot, as Tardis files may have (they are skipped)."""
    rows: list[list[object]] = []
    first = snaps[0].us - 1
    rows += [["a", TARDIS_SYMBOL, first, first, "false", "bid", 1.0, 5.0]]
    rows += [["a", TARDIS_SYMBOL, first, first, "false", "ask", 999.0, 5.0]]
    last: dict[str, Snap] = {}
    for s in snaps:
        head = [s.venue, TARDIS_SYMBOL, s.us, s.us]
        before = last.get(s.venue)
        for name, side, old in (
            ("bid", s.bids, before and before.bids),
            ("ask", s.asks, before and before.asks),
        ):
            flag = "true" if before is None else "false"
            if not old:
                rows += [[*head, flag, name, p, a] for p, a in side]
                continue
            new = dict(side)
            rows += [[*head, flag, name, p, 0] for p, _ in old if p not in new]
            rows += [[*head, flag, name, p, a] for p, a in side if (p, a) not in old]
        last[s.venue] = s
    return rows


def write_incremental(path: Path, snaps: list[Snap]) -> Path:
    return _write(path, INCREMENTAL_HEADER, incremental_rows(snaps))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path
