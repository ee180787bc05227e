"""The quote CSV read by `arbot replay` and `arbot backtest`.

Header ts,exchange,symbol,bid,bid_size,ask,ask_size; ts in UNIX seconds, or milliseconds
when above 1e11 (decided per row; 1e11 s is the year 5138, 1e11 ms is 1973); empty sizes
mean unknown depth. Errors name the file, and the line of the first bad row: skipping rows
would silently change what the detector sees.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

from arbot.errors import ArbotError
from arbot.models import Tick

COLUMNS = ("ts", "exchange", "symbol", "bid", "bid_size", "ask", "ask_size")
MS_THRESHOLD = 1e11


def read_quotes(
    path: Path, error: type[ArbotError], what: str, *, in_order: bool
) -> Iterator[Tick]:
    """Ticks of `path` in file order, raising `error` (`what` names the file's role in the
    "cannot read" message); with `in_order` a row earlier than the one before is an error."""
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise error(f"{path}: CSV header lacks column(s) {', '.join(missing)}")
        previous = -math.inf
        try:
            for row in reader:
                tick = parse_row(row)
                if in_order and tick.timestamp < previous:
                    raise ValueError(f"ts {tick.timestamp} is earlier than the previous row's")
                previous = tick.timestamp
                yield tick
        except (TypeError, ValueError, csv.Error) as exc:
            raise error(f"{path}:{reader.line_num}: bad quote row: {exc}") from None


def parse_row(row: Mapping[str, str | None]) -> Tick:
    """One row as a Tick with received = ts; ValueError says what is wrong with it."""
    ts = float(row["ts"] or "")
    if not math.isfinite(ts):
        raise ValueError(f"ts must be a finite number, got {row['ts']!r}")
    ts = ts / 1000.0 if ts > MS_THRESHOLD else ts
    bid, ask = float(row["bid"] or ""), float(row["ask"] or "")
    if not (math.isfinite(bid) and math.isfinite(ask) and 0 < bid <= ask):
        raise ValueError(f"need 0 < bid <= ask, got bid {bid} ask {ask}")
    exchange, symbol = row["exchange"] or "", row["symbol"] or ""
    if not exchange or "/" not in symbol:
        raise ValueError(f"need an exchange and a unified symbol, got {exchange!r} {symbol!r}")
    return Tick(exchange, symbol, bid, ask, _size(row["bid_size"]), _size(row["ask_size"]), ts, ts)


def _size(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"size must be a non-negative number, got {text!r}")
    return value
