"""Unified ccxt ticker dict -> Tick, or the reason it is rejected. Pure and cheap: it runs
once per quote (~100k/s), so it avoids exceptions and allocations on the happy path."""

from __future__ import annotations

from collections.abc import Mapping
from math import isfinite
from typing import Any

from arbot.models import Book, Tick

# An exchange clock this far ahead of ours is wrong, not fast: such a tick would sort after
# every honest one and look fresher than it is.
MAX_FUTURE_SKEW = 5.0
# A quote this old on arrival describes a market that has moved on (a replayed or stuck feed).
MAX_AGE = 120.0
_new = tuple.__new__


def to_tick(
    exchange: str,
    raw: Mapping[str, Any],
    received: float,
    max_future: float = MAX_FUTURE_SKEW,
    max_age: float = MAX_AGE,
) -> Tick | str:
    """Return a Tick, or one of metrics.REJECT_REASONS. `timestamp` in `raw` is ccxt's
    milliseconds; a missing one is replaced by `received`."""
    try:
        symbol = raw["symbol"]
        bid = raw["bid"]
        ask = raw["ask"]
        bid_size = raw.get("bidVolume")
        ask_size = raw.get("askVolume")
        ts_ms = raw.get("timestamp")
    except (KeyError, TypeError, AttributeError):
        return "malformed"
    if bid is None or ask is None:
        return "missing_price"
    if type(symbol) is not str:
        return "malformed"
    try:
        bid = float(bid)
        ask = float(ask)
        if bid_size is not None:
            bid_size = float(bid_size)
        if ask_size is not None:
            ask_size = float(ask_size)
        timestamp = received if ts_ms is None else float(ts_ms) / 1000.0
    except (TypeError, ValueError):
        return "malformed"
    if not (isfinite(bid) and isfinite(ask)):
        return "not_finite"
    if bid <= 0.0 or ask <= 0.0:
        return "non_positive"
    if ask < bid:
        return "crossed"
    if bid_size is not None:
        if not isfinite(bid_size):
            return "not_finite"
        if bid_size < 0.0:
            return "negative_size"
    if ask_size is not None:
        if not isfinite(ask_size):
            return "not_finite"
        if ask_size < 0.0:
            return "negative_size"
    if not isfinite(timestamp):
        return "malformed"
    if timestamp - received > max_future:
        return "future_timestamp"
    if received - timestamp > max_age:
        return "stale_timestamp"
    # tuple.__new__ skips NamedTuple's Python-level __new__: half the cost of Tick(...).
    return _new(Tick, (exchange, symbol, bid, ask, bid_size, ask_size, timestamp, received))


def to_book(
    exchange: str,
    raw: Mapping[str, Any],
    received: float,
    max_future: float = MAX_FUTURE_SKEW,
    max_age: float = MAX_AGE,
) -> Book | str:
    """The top of an order book as the capture hands it over (symbol, bids, asks best first,
    ccxt's millisecond timestamp) -> Book, or one of metrics.REJECT_REASONS: every level a
    finite positive price and amount, each side strictly ordered, the sides not crossed."""
    try:
        symbol = raw["symbol"]
        bids = tuple((float(p), float(a)) for p, a in raw["bids"])
        asks = tuple((float(p), float(a)) for p, a in raw["asks"])
        ts_ms = raw.get("timestamp")
        timestamp = received if ts_ms is None else float(ts_ms) / 1000.0
    except (KeyError, TypeError, ValueError, AttributeError):
        return "malformed"
    if type(symbol) is not str:
        return "malformed"
    if not bids or not asks:
        return "missing_price"
    for side, sign in ((bids, -1.0), (asks, 1.0)):
        previous = None
        for price, amount in side:
            if not (isfinite(price) and isfinite(amount)):
                return "not_finite"
            if price <= 0.0:
                return "non_positive"
            if amount < 0.0:
                return "negative_size"
            if previous is not None and (price - previous) * sign <= 0.0:
                return "malformed"
            previous = price
    if asks[0][0] < bids[0][0]:
        return "crossed"
    if not isfinite(timestamp):
        return "malformed"
    if timestamp - received > max_future:
        return "future_timestamp"
    if received - timestamp > max_age:
        return "stale_timestamp"
    return Book(exchange, symbol, bids, asks, timestamp, received)


def top_of(book: Book) -> Tick:
    """The book's best bid and ask as the tick the quote feed would have stored."""
    (bid, bid_size), (ask, ask_size) = book.bids[0], book.asks[0]
    return _new(
        Tick,
        (book.exchange, book.symbol, bid, ask, bid_size, ask_size, book.timestamp, book.received),
    )
