"""Rebuild binance_btcusdt_quotes_60s.csv.gz from the recorded bookTicker frames (see README)."""

from __future__ import annotations

import gzip
import heapq
import json
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent
RECORDED = HERE.parents[2] / "daemon/arbot/localmarket/data"
START_NS = 1_723_161_260_000_000_000  # 2024-08-08T23:54:20Z
END_NS = START_NS + 60 * 10**9
HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"


def rows(name: str, exchange: str) -> Iterator[tuple[int, str]]:
    """(local µs, CSV line) of one recording's frames inside the window."""
    with gzip.open(RECORDED / name, "rt") as f:
        for line in f:
            received_ns, _, frame = line.partition(" ")
            if not START_NS <= int(received_ns) < END_NS:
                continue
            d = json.loads(frame)["data"]
            local = int(received_ns) // 1000
            # Spot frames carry no exchange time: Tardis then repeats local_timestamp.
            ts = d["E"] * 1000 if "E" in d else local
            yield local, f"{exchange},{d['s']},{ts},{local},{d['A']},{d['a']},{d['b']},{d['B']}"


def main() -> None:
    merged = heapq.merge(
        rows("spot_btcusdt_bookticker_20240808.gz", "binance"),
        rows("usdm_btcusdt_bookticker_20240808.gz", "binance-futures"),
        key=lambda r: r[0],
    )
    text = "\n".join([HEADER, *(line for _, line in merged)]) + "\n"
    (HERE / "binance_btcusdt_quotes_60s.csv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))


if __name__ == "__main__":
    main()
