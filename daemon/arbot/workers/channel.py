"""What a feed worker sends the daemon over its pipe: framed messages, the queue items of a
batch packed into one compact message (struct rows, not one pickle per tick), in order.

A frame is its payload's length (4 bytes) then the payload: one kind byte and its body.
ITEMS: ticks, books, outages and gaps in the order the feeds put them. STATUS: the feeds'
supervisor state and the worker's metric totals (JSON, about once a second; it is also the
heartbeat). SETUP_ERROR: a feed found a configuration error (JSON). DONE: the worker stopped
and sent everything."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from typing import Any

from arbot.models import Book, FeedDown, FeedGap, QueueItem, Tick

ITEMS = b"I"
STATUS = b"S"
SETUP_ERROR = b"E"
DONE = b"D"

LENGTH = struct.Struct("<I")
# n items, then the byte lengths of the string table, tick rows, books and events.
_HEADER = struct.Struct("<IIIII")
# exchange and symbol (string table indexes), which sizes are None, bid, ask, bid size,
# ask size, timestamp, received.
_TICK = struct.Struct("<HHB6d")
# exchange, symbol, resync, bid levels, ask levels, timestamp, received; then the levels.
_BOOK = struct.Struct("<HHBHHdd")
_NO_BID_SIZE, _NO_ASK_SIZE = 1, 2
_TICK_KIND, _BOOK_KIND, _DOWN_KIND, _GAP_KIND = 0, 1, 2, 3
_SEPARATOR = "\x00"  # never part of an exchange name or a symbol


def frame(kind: bytes, body: bytes) -> bytes:
    return LENGTH.pack(len(body) + 1) + kind + body


def encode_items(items: Iterable[QueueItem]) -> bytes:
    """One ITEMS frame holding `items`."""
    strings: dict[str, int] = {}
    kinds = bytearray()
    ticks: list[bytes] = []
    books: list[bytes] = []
    events: list[list[Any]] = []

    def index(s: str) -> int:
        i = strings.get(s)
        if i is None:
            i = strings[s] = len(strings)
        return i

    for item in items:
        if isinstance(item, Tick):
            ex, sym, bid, ask, bid_size, ask_size, ts, received = item
            flags = (_NO_BID_SIZE if bid_size is None else 0) | (
                _NO_ASK_SIZE if ask_size is None else 0
            )
            ticks.append(
                _TICK.pack(
                    index(ex),
                    index(sym),
                    flags,
                    bid,
                    ask,
                    math.nan if bid_size is None else bid_size,
                    math.nan if ask_size is None else ask_size,
                    ts,
                    received,
                )
            )
            kinds.append(_TICK_KIND)
        elif isinstance(item, Book):
            levels = [x for level in (*item.bids, *item.asks) for x in level]
            header = _BOOK.pack(
                index(item.exchange),
                index(item.symbol),
                item.resync,
                len(item.bids),
                len(item.asks),
                item.timestamp,
                item.received,
            )
            books.append(header + struct.pack(f"<{len(levels)}d", *levels))
            kinds.append(_BOOK_KIND)
        elif isinstance(item, FeedDown):
            events.append([item.exchange, item.since, item.reason])
            kinds.append(_DOWN_KIND)
        else:
            events.append([item.exchange, item.start, item.end, item.reason])
            kinds.append(_GAP_KIND)
    table = _SEPARATOR.join(strings).encode()
    tick_bytes, book_bytes = b"".join(ticks), b"".join(books)
    event_bytes = json.dumps(events).encode() if events else b""
    sizes = _HEADER.pack(len(kinds), len(table), len(tick_bytes), len(book_bytes), len(event_bytes))
    return frame(ITEMS, sizes + table + kinds + tick_bytes + book_bytes + event_bytes)


def decode_items(body: bytes) -> list[QueueItem]:
    """The items of an ITEMS frame's body (after the kind byte), in the order sent."""
    n, table_len, ticks_len, books_len, events_len = _HEADER.unpack_from(body)
    at = _HEADER.size
    strings = body[at : at + table_len].decode().split(_SEPARATOR)
    at += table_len
    kinds = body[at : at + n]
    at += n
    tick_rows = _TICK.iter_unpack(body[at : at + ticks_len])
    at += ticks_len
    book_at, books_end = at, at + books_len
    events = iter(json.loads(body[books_end : books_end + events_len]) if events_len else ())
    out: list[QueueItem] = []
    for kind in kinds:
        if kind == _TICK_KIND:
            ex, sym, flags, bid, ask, bid_size, ask_size, ts, received = next(tick_rows)
            out.append(
                Tick(
                    strings[ex],
                    strings[sym],
                    bid,
                    ask,
                    None if flags & _NO_BID_SIZE else bid_size,
                    None if flags & _NO_ASK_SIZE else ask_size,
                    ts,
                    received,
                )
            )
        elif kind == _BOOK_KIND:
            ex, sym, resync, nb, na, ts, received = _BOOK.unpack_from(body, book_at)
            book_at += _BOOK.size
            flat = struct.unpack_from(f"<{2 * (nb + na)}d", body, book_at)
            book_at += 8 * len(flat)
            levels = tuple(zip(flat[0::2], flat[1::2], strict=True))
            out.append(
                Book(
                    strings[ex], strings[sym], levels[:nb], levels[nb:], ts, received, bool(resync)
                )
            )
        elif kind == _DOWN_KIND:
            ex_name, since, reason = next(events)
            out.append(FeedDown(ex_name, since, reason))
        else:
            ex_name, start, end, reason = next(events)
            out.append(FeedGap(ex_name, start, end, reason))
    return out


def encode_json(kind: bytes, value: Any) -> bytes:
    return frame(kind, json.dumps(value).encode())
