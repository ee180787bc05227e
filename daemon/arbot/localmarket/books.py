"""Simulated L2 order books for the fake exchanges: one per symbol, moved by the quotes the
fake already sends (its best levels are the quote rounded out to the tick), with a few
deeper levels changing at each update, and a history from which the book at any retained
update id can be rebuilt (to compare a client's book with what the fake had).

Prices are whole ticks and sizes whole lots (1e-8) so that every venue's text for a level,
and every checksum over that text, is exact."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from arbot.localmarket.quotes import Quote, start_price

SIZE_DECIMALS = 8
LOT = 10**SIZE_DECIMALS
Level = tuple[int, int]  # (price in ticks, size in lots); size 0 deletes the level


def price_decimals(symbol: str) -> int:
    """Tick decimals: about 1e-5 of the price, as venues tick (BTC 0.1, ETH 0.01)."""
    return max(0, 5 - math.floor(math.log10(start_price(symbol))))


def decimal(value: int, decimals: int, places: int | None = None) -> str:
    """`value` * 10**-decimals as text: trimmed ('60000.1') or with `places` decimals
    ('60000.10000000')."""
    if places is not None:
        value *= 10 ** (places - decimals)
        decimals = places
    whole, frac = divmod(abs(value), 10**decimals)
    text = f"{'-' if value < 0 else ''}{whole}"
    if decimals:
        text += f".{frac:0{decimals}d}"
        if places is None:
            text = text.rstrip("0").rstrip(".")
    return text


class BookUpdate(NamedTuple):
    """One change of the book: update ids `first`..`last` (one per level changed, as
    Binance counts them), its time, and the levels it set (size 0: removed), best first."""

    first: int
    last: int
    ts: float
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class Snapshot(NamedTuple):
    """The book as of update id `id`: levels best first."""

    symbol: str
    id: int
    ts: float
    decimals: int
    bids: list[Level]
    asks: list[Level]

    def text(self, depth: int | None = None) -> dict[str, Any]:
        """Venue-neutral JSON (the control endpoint's answer): levels as decimal strings."""
        return {
            "symbol": self.symbol,
            "id": self.id,
            "ts": self.ts,
            "bids": [
                [decimal(p, self.decimals), decimal(s, SIZE_DECIMALS)] for p, s in self.bids[:depth]
            ],
            "asks": [
                [decimal(p, self.decimals), decimal(s, SIZE_DECIMALS)] for p, s in self.asks[:depth]
            ],
        }


def _ordered(levels: Mapping[int, int], sign: int, depth: int | None = None) -> list[Level]:
    """Best first: bids (sign 1) by descending price, asks (sign -1) ascending."""
    return sorted(levels.items(), key=lambda level: -sign * level[0])[:depth]


def _changes(old: Mapping[int, int], new: Mapping[int, int], sign: int) -> tuple[Level, ...]:
    changed = {p: new.get(p, 0) for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
    return tuple(_ordered(changed, sign))


def _apply(levels: dict[int, int], changes: Iterable[Level]) -> None:
    for price, size in changes:
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)


class Book:
    """`levels` price levels each side, always; each step moves the best levels to the
    quote, changes `changes` deeper levels at random, and closes gaps wider than about two
    basis points so the levels stay dense near the top. Keeps the last `history` updates."""

    def __init__(
        self,
        quote: Quote,
        *,
        levels: int = 20,
        changes: int = 3,
        history: int = 10_000,
        seed: int = 0,
    ) -> None:
        self.symbol = quote.symbol
        self.depth = levels
        self.changes = changes
        self.decimals = price_decimals(quote.symbol)
        self._rng = random.Random(f"{seed}:{quote.symbol}")
        mid = start_price(quote.symbol)
        if quote.bid is not None and quote.ask is not None and quote.bid > 0:
            mid = (quote.bid + quote.ask) / 2
        # Widest gap between neighbouring levels, in ticks: about two basis points (the
        # quotes' noise is one), so a quote moves the best by a level or so.
        self._gap = max(1, round(mid * 2e-4 * 10**self.decimals))
        self.id = 1
        self.ts = quote.ts if quote.ts is not None else time.time()
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._prev_bids: dict[int, int] = {}
        self._prev_asks: dict[int, int] = {}
        self._move(quote)
        self._fill(self.bids, 1)
        self._fill(self.asks, -1)
        self._history: deque[BookUpdate] = deque()
        self._keep = history
        self._base = (self.id, self.ts, dict(self.bids), dict(self.asks))

    def step(self, quote: Quote) -> BookUpdate | None:
        """Move the book to `quote`; the update, or None when nothing changed (a quote
        without a usable price changes nothing)."""
        if not self._usable(quote):
            return None
        self._prev_bids, self._prev_asks = dict(self.bids), dict(self.asks)
        self._move(quote)
        for _ in range(self.changes):
            self._churn(*self._rng.choice([(self.bids, 1), (self.asks, -1)]))
        self._fill(self.bids, 1)
        self._fill(self.asks, -1)
        bids = _changes(self._prev_bids, self.bids, 1)
        asks = _changes(self._prev_asks, self.asks, -1)
        if not bids and not asks:
            return None
        self.ts = quote.ts if quote.ts is not None else time.time()
        update = BookUpdate(self.id + 1, self.id + len(bids) + len(asks), self.ts, bids, asks)
        self.id = update.last
        self._remember(update)
        return update

    def snapshot(self, depth: int | None = None) -> Snapshot:
        return Snapshot(
            self.symbol,
            self.id,
            self.ts,
            self.decimals,
            _ordered(self.bids, 1, depth),
            _ordered(self.asks, -1, depth),
        )

    def view_changes(self, depth: int) -> tuple[list[Level], list[Level]]:
        """What the latest update changed in a client's view of the best `depth` levels
        (Kraken, OKX `books`): levels that entered or changed, and removals of levels that
        were in view. Levels pushed out of view by better ones get no removal: the client
        truncates its book to `depth`, as the venues expect."""
        return (
            self._view_changes(self._prev_bids, self.bids, 1, depth),
            self._view_changes(self._prev_asks, self.asks, -1, depth),
        )

    @staticmethod
    def _view_changes(
        old: dict[int, int], new: dict[int, int], sign: int, depth: int
    ) -> list[Level]:
        before = dict(_ordered(old, sign, depth))
        after = dict(_ordered(new, sign, depth))
        out = {p: s for p, s in after.items() if before.get(p) != s}
        out.update((p, 0) for p in before if p not in after and p not in new)
        return _ordered(out, sign)

    def ago(self, updates: int) -> Snapshot:
        """The book `updates` updates back (the oldest retained one if fewer are kept)."""
        if updates <= 0:
            return self.snapshot()
        if updates > len(self._history):
            return self.at(self._base[0])
        return self.at(self._history[-updates].first - 1)

    def at(self, update_id: int) -> Snapshot:
        """The book as it was right after update id `update_id` (LookupError when that id
        is older than the retained history or not the last id of an update)."""
        base_id, ts, base_bids, base_asks = self._base
        if update_id < base_id or update_id > self.id:
            raise LookupError(
                f"{self.symbol}: update id {update_id} not retained ({base_id}..{self.id})"
            )
        bids, asks = dict(base_bids), dict(base_asks)
        last = base_id
        for update in self._history:
            if update.last > update_id:
                break
            _apply(bids, update.bids)
            _apply(asks, update.asks)
            last, ts = update.last, update.ts
        if last != update_id:
            raise LookupError(f"{self.symbol}: update id {update_id} is inside an update")
        return Snapshot(self.symbol, last, ts, self.decimals, _ordered(bids, 1), _ordered(asks, -1))

    def _remember(self, update: BookUpdate) -> None:
        self._history.append(update)
        if len(self._history) > self._keep:
            oldest = self._history.popleft()
            _, _, bids, asks = self._base
            _apply(bids, oldest.bids)
            _apply(asks, oldest.asks)
            self._base = (oldest.last, oldest.ts, bids, asks)

    @staticmethod
    def _usable(quote: Quote) -> bool:
        return (
            quote.bid is not None
            and quote.ask is not None
            and math.isfinite(quote.bid)
            and math.isfinite(quote.ask)
            and quote.bid > 0
        )

    def _move(self, quote: Quote) -> None:
        """Best bid/ask := the quote's, rounded outwards to the tick; levels better than
        them go (they were taken)."""
        if not self._usable(quote):
            quote = quote._replace(bid=start_price(self.symbol), ask=start_price(self.symbol))
        assert quote.bid is not None and quote.ask is not None
        scale = 10**self.decimals
        best_bid = math.floor(quote.bid * scale + 1e-9)
        best_ask = max(math.ceil(quote.ask * scale - 1e-9), best_bid + 1)
        for levels, best, sign, size in (
            (self.bids, best_bid, 1, quote.bid_size),
            (self.asks, best_ask, -1, quote.ask_size),
        ):
            for price in [p for p in levels if sign * (p - best) > 0]:
                del levels[price]
            lots = round(size * LOT) if size is not None and math.isfinite(size) else 0
            levels[best] = lots if lots > 0 else self._lots()

    def _churn(self, levels: dict[int, int], sign: int) -> None:
        """Resize, remove or add one level behind the best."""
        ordered = _ordered(levels, sign)
        best, rest = ordered[0][0], ordered[1:]
        action = self._rng.random()
        if rest and action < 0.6:
            levels[self._rng.choice(rest)[0]] = self._lots()
        elif rest and action < 0.8:
            del levels[self._rng.choice(rest)[0]]
        else:
            price = best - sign * self._rng.randint(1, self._gap * self.depth)
            levels.setdefault(price, self._lots())

    def _fill(self, levels: dict[int, int], sign: int) -> None:
        """Exactly `depth` levels, no gap wider than `_gap` ticks: walk out from the best,
        adding a level in each wider gap, and drop what lies beyond the last one kept."""
        ordered = [p for p, _ in _ordered(levels, sign)]
        kept = [ordered[0]]
        later = iter(ordered[1:])
        upcoming = next(later, None)
        while len(kept) < self.depth:
            prev = kept[-1]
            if upcoming is not None and sign * (prev - upcoming) <= self._gap:
                kept.append(upcoming)
                upcoming = next(later, None)
            else:
                price = prev - sign * self._rng.randint(1, self._gap)
                levels[price] = self._lots()
                kept.append(price)
        for price in set(levels) - set(kept):
            del levels[price]

    def _lots(self) -> int:
        return self._rng.randint(LOT // 1000, 5 * LOT)
