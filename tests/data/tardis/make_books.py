"""Rebuild binance_btcusdt_book_snapshot_10_90s.csv.gz from the raw Binance websocket
captures (see README): `python tests/data/tardis/make_books.py [CAPTURE_DIR]`."""

from __future__ import annotations

import gzip
import heapq
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).parent
CAPTURES = Path("/work/shared/fixtures/binance-ws")
START_NS = 1_723_161_260_000_000_000  # 2024-08-08T23:54:20Z, by receive time
END_NS = START_NS + 90 * 10**9
LEVELS = 10
LEVEL_COLUMNS = [
    f"{side}[{i}].{field}"
    for i in range(LEVELS)
    for side in ("asks", "bids")
    for field in ("price", "amount")
]
HEADER = ",".join(["exchange", "symbol", "timestamp", "local_timestamp", *LEVEL_COLUMNS])


class Book:
    """Binance's local order book: the REST snapshot, then the diffs that follow it."""

    def __init__(self, snapshot: dict[str, object], futures: bool) -> None:
        self.last = int(str(snapshot["lastUpdateId"]))
        self.futures = futures
        self.synced = False
        self.sides: dict[str, dict[Decimal, str]] = {"b": {}, "a": {}}
        for side, key in (("b", "bids"), ("a", "asks")):
            levels = snapshot[key]
            assert isinstance(levels, list)
            self.apply(side, levels)

    def apply(self, side: str, levels: list[list[str]]) -> None:
        book = self.sides[side]
        for price, amount in levels:
            if Decimal(amount) == 0:
                book.pop(Decimal(price), None)
            else:
                book[Decimal(price)] = amount

    def update(self, d: dict[str, object]) -> bool:
        """Apply one depthUpdate by Binance's rules; False if it is before the snapshot."""
        first, last = int(str(d["U"])), int(str(d["u"]))
        if not self.synced:
            # Spot: the first diff has U <= lastUpdateId + 1 <= u; futures: U <= id <= u.
            edge = self.last if self.futures else self.last + 1
            if last < edge:
                return False
            assert first <= edge, "a gap between the snapshot and the diffs"
            self.synced = True
        else:
            previous = int(str(d["pu"])) if self.futures else first - 1
            assert previous == self.last, "a gap in the diffs"
        self.last = last
        for side in ("b", "a"):
            levels = d[side]
            assert isinstance(levels, list)
            self.apply(side, levels)
        return True

    def top(self) -> list[str]:
        bids = sorted(self.sides["b"].items(), reverse=True)[:LEVELS]
        asks = sorted(self.sides["a"].items())[:LEVELS]
        assert len(bids) == len(asks) == LEVELS and bids[0][0] < asks[0][0]
        return [
            _text(v)
            for (ap, aa), (bp, ba) in zip(asks, bids, strict=True)
            for v in (ap, Decimal(aa), bp, Decimal(ba))
        ]


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def rows(path: Path, exchange: str, futures: bool) -> Iterator[tuple[int, str]]:
    """(local µs, CSV line) of each change of the top 10 levels inside the window."""
    book: Book | None = None
    early: list[tuple[str, dict[str, object]]] = []  # diffs received before the snapshot
    shown: list[str] | None = None
    with gzip.open(path, "rt") as f:
        for line in f:
            received_ns, _, frame = line.partition(" ")
            message = json.loads(frame)
            if "lastUpdateId" in message:
                book = Book(message, futures)
                for _, d in early:
                    book.update(d)
                continue
            if "@depth" not in message["stream"]:
                continue  # bookTicker, trades
            d = message["data"]
            if book is None:
                early.append((received_ns, d))
                continue
            if not book.update(d) or not START_NS <= int(received_ns) < END_NS:
                continue
            top = book.top()
            if top != shown:
                shown = top
                local = int(received_ns) // 1000
                yield local, ",".join([exchange, d["s"], str(d["E"] * 1000), str(local), *top])


def main() -> None:
    captures = Path(sys.argv[1]) if len(sys.argv) > 1 else CAPTURES
    merged = heapq.merge(
        rows(captures / "spot_btcusdt_20240808.gz", "binance", False),
        rows(captures / "usdm_btcusdt_20240808.gz", "binance-futures", True),
        key=lambda r: r[0],
    )
    text = "\n".join([HEADER, *(line for _, line in merged)]) + "\n"
    out = HERE / "binance_btcusdt_book_snapshot_10_90s.csv.gz"
    out.write_bytes(gzip.compress(text.encode(), mtime=0))


if __name__ == "__main__":
    main()
