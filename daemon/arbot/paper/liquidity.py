"""What paper legs fill at: one side of a delivered quote or order book, used up by trades.

A side is shared by every leg that fills at it (the buy legs at a delivery's asks, the sell
legs at its bids). Trades take from it at settlement, from the best price down, so a trade
gets what the earlier ones left; a new delivery of the exchange and symbol is a new side.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from arbot.detector.depth import Level, amount_for, value_of


class Side(ABC):
    """One side of one delivery: what is left of it, and which trades took the rest."""

    __slots__ = ("left", "taken")

    def __init__(self, held: float) -> None:
        self.left = held
        self.taken: list[tuple[int, float]] = []  # (trade id, quantity) in settlement order

    @abstractmethod
    def price(self, quantity: float) -> float:
        """Average price of the next `quantity` (at most `left`) units."""

    @abstractmethod
    def affordable(self, budget: float, fee: float) -> float:
        """How many of the next units `budget` pays for, `fee` (a rate) on top."""

    @abstractmethod
    def describe(self, exchange: str, side: str) -> str:
        """The side as delivered ("okx ask 1.5") and, if trades used it, who took how much."""

    def take(self, trade_id: int, quantity: float) -> None:
        self.left -= quantity  # never below 0: a fill is capped by `left`
        self.taken.append((trade_id, quantity))

    def _used(self) -> str:
        if not self.taken:
            return ""
        ids = ", ".join(str(trade_id) for trade_id, _ in self.taken)
        took = math.fsum(q for _, q in self.taken)
        trades = "trade" if len(self.taken) == 1 else "trades"
        return f" ({trades} {ids} took {took:.8g}, {self.left:.8g} left)"


class QuoteSide(Side):
    """A quote's ask or bid: one price, its size (unknown counts as none)."""

    __slots__ = ("_price", "_size")

    def __init__(self, price: float, size: float | None) -> None:
        super().__init__(size or 0.0)
        self._price = price
        self._size = size

    def price(self, quantity: float) -> float:
        return self._price

    def affordable(self, budget: float, fee: float) -> float:
        return budget / (self._price * (1.0 + fee))

    def describe(self, exchange: str, side: str) -> str:
        size = "unknown" if self._size is None else f"{self._size:.8g}"
        return f"{exchange} {side} {size}{self._used()}"


class BookSide(Side):
    """An order book's asks or bids, best first: a fill walks down them from where the
    earlier fills stopped (depth.value_of and amount_for on the whole side, at an offset)."""

    __slots__ = ("_held", "_levels", "_used_amount", "_value")

    def __init__(self, levels: tuple[Level, ...]) -> None:
        self._held = math.fsum(amount for _, amount in levels)
        super().__init__(self._held)
        self._levels = levels
        self._value = math.fsum(price * amount for price, amount in levels)
        self._used_amount = 0.0  # base units taken from the top

    def _value_to(self, amount: float) -> float:
        """Σ price · amount of the first `amount` units of the whole side."""
        value = value_of(self._levels, amount)
        # None: `amount` is the whole side but for the rounding of the sums.
        return self._value if value is None else value

    def price(self, quantity: float) -> float:
        start = self._used_amount
        return (self._value_to(start + quantity) - self._value_to(start)) / quantity

    def affordable(self, budget: float, fee: float) -> float:
        start = self._used_amount
        end = amount_for(self._levels, self._value_to(start) + budget / (1.0 + fee))
        return self.left if end is None else end - start

    def take(self, trade_id: int, quantity: float) -> None:
        super().take(trade_id, quantity)
        self._used_amount += quantity

    def describe(self, exchange: str, side: str) -> str:
        n = len(self._levels)
        levels = "level" if n == 1 else "levels"
        return f"{exchange} {side} book {self._held:.8g} in {n} {levels}{self._used()}"


class Leg:
    """One leg of a trade: its exchange and, once filled, the side it fills at and when."""

    __slots__ = ("at", "exchange", "side")

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.side: Side = QuoteSide(0.0, None)
        self.at: float | None = None

    def fill(self, side: Side, now: float) -> None:
        self.side = side
        self.at = now
