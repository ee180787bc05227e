"""Order books on both backends: the packed levels of a stored row, and the rebuild of a
book from its rows.

A `books` row (arbot_004.sql, pg_003.sql) is one stored change of (exchange, symbol): a
SNAPSHOT (its levels are the whole book, best first) or a DELTA against the key's previous
row (the levels that changed or appeared, with their new amount, and those gone, with
amount 0). RESYNC is a snapshot of a book whose feed rebuilt it (models.Book.resync) or
whose earlier books were dropped: what came before it does not lead up to it.

`levels` packs prices and amounts as counts of 1e-8 when that is exact, as ticks store
them on SQLite (arbot_002.sql; `units` is storage/sqlite/writer.py's `encoded_sql` in Python),
delta-coded and divided by their common factor (a price tick, a lot), in the fewest whole
bytes the largest needs; any other value keeps the whole blob as IEEE doubles. Layout:
  byte 0        bit 0: 1 = raw doubles; bits 1-3: price width - 1; bits 4-6: amount width - 1
  varint        bid entries, then ask entries
  raw:          (price, amount) as '<dd', bids then asks
  scaled:       varint price scale, varint amount scale (m·10^e as m·16 + e);
                zigzag varint (first bid - bid anchor) / price scale, if any bid;
                zigzag varint (first ask - ask anchor) / price scale, if any ask;
                zigzag steps to each next price of the same side, fixed width;
                amounts / amount scale, fixed width.
The anchors are the previous book's best prices for a delta, 0 for a snapshot; an ask
anchor of 0 stands for the first bid entry, if any. Negative amounts keep the raw layout.
"""

from __future__ import annotations

import functools
import itertools
import math
import struct
from collections.abc import Iterable, Sequence

from arbot.models import Book, Level
from arbot.storage.portable import Conn, execute

DELTA, SNAPSHOT, RESYNC = 0, 1, 2
SNAPSHOT_SECONDS = 60.0
"""A key's rows start a snapshot at least this often, so a rebuild reads at most this long."""

Side = tuple[Level, ...]
StoredRow = tuple[float, int, int | None, bytes]  # ts, kind, recv_delta_ms, levels

_E8 = 1e8
_INT64 = 2**63 - 1
_WHOLE = 2.0**52  # doubles above have no fraction
_RAW = 1
_STRUCT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_POW10: tuple[int, ...] = tuple(10**e for e in range(16))


def units(value: float) -> int | None:
    """The count m of 1e-8 with m / 1e8 == value that storage/sqlite/writer.py's `encoded_sql`
    stores for a tick, or None where it keeps the REAL (off the grid, not finite, or not an
    int64 count): the same rounding (SQLite's round(), half away from zero) and the same
    two candidates, so a value is the same count in a tick and in a book."""
    scaled = value * _E8
    try:
        if abs(scaled) > _WHOLE:  # SQLite's round() leaves these as they are
            m = int(scaled)
        else:
            m = int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)
    except (ValueError, OverflowError):
        return None
    if not -_INT64 < m < _INT64:
        return None
    if m / _E8 == value:
        return m
    if (m - 1) / _E8 == value:
        return m - 1
    return None


def anchors(bids: Side, asks: Side) -> tuple[int, int]:
    """A delta's anchors: the best prices in units of the book it changes (0 if none)."""
    return (units(bids[0][0]) or 0) if bids else 0, (units(asks[0][0]) or 0) if asks else 0


def pack(bids: Sequence[Level], asks: Sequence[Level], anchor: tuple[int, int]) -> bytes:
    """Levels of both sides as a blob (see the module docstring)."""
    nb, n = len(bids), len(bids) + len(asks)
    out = bytearray(1)
    _varint(out, nb)
    _varint(out, n - nb)
    if not n:
        return bytes(out)
    levels = [*bids, *asks]
    flat = _all_units([v for level in levels for v in level])
    if flat is None or min(flat[1::2]) < 0:  # amounts are counted unsigned
        return _raw(out, levels)
    ps, am = flat[0::2], flat[1::2]
    first_bid, first_ask = anchor
    heads = []
    if nb:
        heads.append(ps[0] - first_bid)
        first_ask = first_ask or ps[0]
    if nb < n:
        heads.append(ps[nb] - first_ask)
    steps = [b - a for a, b in itertools.pairwise(ps)]
    if 0 < nb < n:
        del steps[nb - 1]  # last bid to first ask: the ask head says where asks start
    pscale = math.gcd(*heads, *steps) or 1
    ascale = math.gcd(*am) or 1
    if pscale != 1:
        steps = [s // pscale for s in steps]
    zsteps = [s << 1 if s >= 0 else (-s << 1) - 1 for s in steps]
    scaled = [a // ascale for a in am] if ascale != 1 else am
    pw, aw = _width(zsteps), _width(scaled)
    if pw > 8 or aw > 8:
        return _raw(out, levels)
    out[0] = (pw - 1) << 1 | (aw - 1) << 4
    _varint(out, _scale_code(pscale))
    _varint(out, _scale_code(ascale))
    for head in heads:
        _varint(out, _zigzag(head // pscale))
    out += _fixed(zsteps, pw)
    out += _fixed(scaled, aw)
    return bytes(out)


def _all_units(values: list[float]) -> list[int] | None:
    """`units` of each value, or None if one has none: first the usual case (every value
    on the grid, none negative, none beyond 2^52 counts) at list speed."""
    try:
        counts = [int(v * _E8 + 0.5) for v in values]
    except (ValueError, OverflowError):
        counts = []
    fast = counts and min(values) >= 0 and max(counts) <= _WHOLE
    if fast and [m / _E8 for m in counts] == values:
        return counts
    slow = [units(v) for v in values]
    return None if None in slow else slow  # type: ignore[return-value]  # no None in it


def unpack(blob: bytes, anchor: tuple[int, int]) -> tuple[list[Level], list[Level]]:
    """The bid and ask entries of a blob, in stored order."""
    head = blob[0]
    nb, at = _read_varint(blob, 1)
    na, at = _read_varint(blob, at)
    n = nb + na
    if n == 0:
        return [], []
    if head & _RAW:
        flat = struct.unpack_from(f"<{2 * n}d", blob, at)
        levels = list(zip(flat[0::2], flat[1::2], strict=True))
        return levels[:nb], levels[nb:]
    pw, aw = (head >> 1 & 7) + 1, (head >> 4 & 7) + 1
    pcode, at = _read_varint(blob, at)
    acode, at = _read_varint(blob, at)
    pscale, ascale = _scale(pcode), _scale(acode)
    first_bid, first_ask = anchor
    starts = []
    if nb:
        z, at = _read_varint(blob, at)
        starts.append(first_bid + _unzigzag(z) * pscale)
        first_ask = first_ask or starts[0]
    if na:
        z, at = _read_varint(blob, at)
        starts.append(first_ask + _unzigzag(z) * pscale)
    nsteps = n - len(starts)
    zsteps = _read_fixed(blob, at, nsteps, pw)
    at += nsteps * pw
    scaled = _read_fixed(blob, at, n, aw)
    prices: list[int] = []
    steps = iter(zsteps)
    for count, start in zip((c for c in (nb, na) if c), starts, strict=True):
        price = start
        prices.append(price)
        for _ in range(count - 1):
            price += _unzigzag(next(steps)) * pscale
            prices.append(price)
    levels = [(p / _E8, a * ascale / _E8) for p, a in zip(prices, scaled, strict=True)]
    return levels[:nb], levels[nb:]


def apply(bids: Side, asks: Side, kind: int, blob: bytes) -> tuple[Side, Side]:
    """The book after one stored row: a snapshot's levels, or (bids, asks) changed by a
    delta (amount 0 removes a level; the writer stores a delta only when the result, sorted
    best first, is exactly the book it wrote)."""
    if kind != DELTA:
        new_bids, new_asks = unpack(blob, (0, 0))
        return tuple(new_bids), tuple(new_asks)
    changed_bids, changed_asks = unpack(blob, anchors(bids, asks))
    return _changed(bids, changed_bids, True), _changed(asks, changed_asks, False)


def rebuild(exchange: str, symbol: str, rows: Iterable[StoredRow]) -> Book | None:
    """The book after `rows` (a snapshot, then the key's deltas in time order)."""
    bids: Side = ()
    asks: Side = ()
    last: StoredRow | None = None
    for row in rows:
        bids, asks = apply(bids, asks, row[1], row[3])
        last = row
    if last is None:
        return None
    ts, kind, recv_delta_ms, _ = last
    received = ts + (recv_delta_ms or 0) / 1000
    return Book(exchange, symbol, bids, asks, ts, received, kind == RESYNC)


# Statements both backends run as written (storage/portable.py).
_IDS = "SELECT s.id, e.id FROM symbols AS s, exchanges AS e WHERE s.name = ? AND e.name = ?"
_LAST_SNAPSHOT = (
    "SELECT ts FROM books WHERE symbol_id = ? AND exchange_id = ? AND ts <= ? AND kind > 0 "
    "ORDER BY ts DESC LIMIT 1"
)
_ROWS = (
    "SELECT ts, kind, recv_delta_ms, levels FROM books "
    "WHERE symbol_id = ? AND exchange_id = ? AND ts >= ? AND ts <= ? ORDER BY ts"
)


def read_book(conn: Conn, exchange: str, symbol: str, at: float) -> Book | None:
    """The stored book of (exchange, symbol) as it was at `at`: after its last stored
    change at or before `at`; None if there is none."""
    ids = execute(conn, _IDS, (symbol, exchange)).fetchone()
    if ids is None:
        return None
    start = execute(conn, _LAST_SNAPSHOT, (*ids, at)).fetchone()
    if start is None:
        return None
    rows = execute(conn, _ROWS, (*ids, start[0], at)).fetchall()
    return rebuild(exchange, symbol, ((ts, k, ms, bytes(b)) for ts, k, ms, b in rows))


def _changed(side: Side, changes: list[Level], descending: bool) -> Side:
    if not changes:
        return side
    levels = dict(side)
    for price, amount in changes:
        if amount == 0:
            levels.pop(price, None)
        else:
            levels[price] = amount
    return tuple(sorted(levels.items(), reverse=descending))


def _raw(out: bytearray, levels: list[Level]) -> bytes:
    out[0] = _RAW
    out += struct.pack(f"<{2 * len(levels)}d", *(v for level in levels for v in level))
    return bytes(out)


def _zigzag(n: int) -> int:
    return n << 1 if n >= 0 else (-n << 1) - 1


def _unzigzag(z: int) -> int:
    return z >> 1 if not z & 1 else -((z + 1) >> 1)


def _width(values: list[int]) -> int:
    return max(1, (max(values).bit_length() + 7) // 8) if values else 1


def _fixed(values: list[int], width: int) -> bytes:
    code = _STRUCT.get(width)
    if code is not None:
        return struct.pack(f"<{len(values)}{code}", *values)
    return b"".join([v.to_bytes(width, "little") for v in values])


def _read_fixed(blob: bytes, at: int, n: int, width: int) -> list[int] | tuple[int, ...]:
    code = _STRUCT.get(width)
    if code is not None:
        return struct.unpack_from(f"<{n}{code}", blob, at)
    return [int.from_bytes(blob[i : i + width], "little") for i in range(at, at + n * width, width)]


@functools.lru_cache(maxsize=1024)
def _scale_code(scale: int) -> int:
    e = 0
    while e < 15 and scale % 10 == 0:
        scale //= 10
        e += 1
    return scale << 4 | e


def _scale(code: int) -> int:
    return (code >> 4) * _POW10[code & 15]


def _varint(out: bytearray, n: int) -> None:
    if n < 0x80:
        out.append(n)
        return
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)


def _read_varint(blob: bytes, at: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        byte = blob[at]
        at += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, at
        shift += 7
