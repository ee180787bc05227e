"""Paper-trading money: simulated per-exchange, per-asset balances and fill arithmetic.

Each (exchange, asset) has a `free` amount and a set of locks (one per pending trade).
Locked amounts are kept per lock, not as one running float, so releasing a lock can never
leave a negative residue from rounding; `free` only ever loses an amount that was checked
to be no larger than it (IEEE subtraction of b <= a gives a result >= 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from arbot.models import BalanceRow

# Shaves the affordable quantity so q·ask·(1 + fee) cannot exceed the lock by rounding.
ROUNDING_GUARD = 1e-9

Key = tuple[str, str]


class InsufficientFunds(Exception):
    """The named exchange does not hold enough free `asset` for the requested amount."""

    def __init__(self, exchange: str, asset: str, needed: float, free: float) -> None:
        super().__init__(f"{exchange} has {free:.8g} {asset} free, needs {needed:.8g}")
        self.exchange = exchange
        self.asset = asset
        self.needed = needed
        self.free = free


def split_symbol(symbol: str) -> tuple[str, str]:
    """'BTC/USDT' -> ('BTC', 'USDT'); a ccxt derivative 'BTC/USDT:USDT' settles in USDT."""
    base, _, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    if not base or not quote:
        raise ValueError(f"symbol {symbol!r} is not a unified ccxt symbol like 'BTC/USDT'")
    return base, quote


class Balances:
    """Free and locked amounts per (exchange, asset); amounts never go negative."""

    def __init__(self, allocation: Mapping[str, Mapping[str, float]]) -> None:
        self._free: dict[Key, float] = {}
        self._locks: dict[Key, dict[int, float]] = {}
        for exchange, assets in allocation.items():
            for asset, amount in assets.items():
                if amount < 0 or not math.isfinite(amount):
                    raise ValueError(f"paper.balances.{exchange}.{asset}: {amount} is not >= 0")
                self._free[(exchange, asset)] = float(amount)

    def free(self, exchange: str, asset: str) -> float:
        return self._free.get((exchange, asset), 0.0)

    def locked(self, exchange: str, asset: str) -> float:
        return math.fsum(self._locks.get((exchange, asset), {}).values())

    def lock(self, lock_id: int, exchange: str, asset: str, amount: float) -> None:
        """Move `amount` from free to a lock named `lock_id`; raises InsufficientFunds."""
        key = (exchange, asset)
        if lock_id in self._locks.get(key, {}):
            raise ValueError(f"lock {lock_id} already holds {asset} on {exchange}")
        self._take(exchange, asset, amount, "lock")
        self._locks.setdefault(key, {})[lock_id] = amount

    def release(self, lock_id: int, exchange: str, asset: str) -> float:
        """Return a lock's whole amount to free; returns the amount (0 if no such lock)."""
        key = (exchange, asset)
        amount = self._locks.get(key, {}).pop(lock_id, 0.0)
        self._free[key] = self._free.get(key, 0.0) + amount
        return amount

    def debit(self, exchange: str, asset: str, amount: float) -> None:
        """Take `amount` from free; raises InsufficientFunds rather than go negative."""
        self._take(exchange, asset, amount, "debit")

    def credit(self, exchange: str, asset: str, amount: float) -> None:
        if not amount >= 0:
            raise ValueError(f"cannot credit a negative amount ({amount}) of {asset} on {exchange}")
        key = (exchange, asset)
        self._free[key] = self._free.get(key, 0.0) + amount

    def _take(self, exchange: str, asset: str, amount: float, verb: str) -> None:
        key = (exchange, asset)
        free = self._free.get(key, 0.0)
        if not amount >= 0:
            raise ValueError(f"cannot {verb} a negative amount ({amount}) of {asset} on {exchange}")
        if amount > free:
            raise InsufficientFunds(exchange, asset, amount, free)
        self._free[key] = free - amount

    def rows(self) -> list[BalanceRow]:
        """Every (exchange, asset) ever held, sorted, for snapshots."""
        keys = sorted(set(self._free) | set(self._locks))
        return [
            BalanceRow(ex, asset, self.free(ex, asset), self.locked(ex, asset))
            for ex, asset in keys
        ]


@dataclass(frozen=True, slots=True)
class Fill:
    quantity: float
    buy_price: float
    sell_price: float
    notional: float
    buy_fee: float
    sell_fee: float
    profit: float
    slippage: float

    @property
    def fees(self) -> float:
        return self.buy_fee + self.sell_fee

    @property
    def profit_percent(self) -> float:
        return 100.0 * self.profit / self.notional if self.notional > 0 else 0.0


def simulate_fill(
    q: float, ask: float, bid: float, fees: tuple[float, float], planned: tuple[float, float]
) -> Fill:
    """Buy `q` at `ask`, sell it at `bid`; `fees` = (taker_buy, taker_sell), `planned` =
    (planned ask, planned bid)."""
    buy_fee, sell_fee = q * ask * fees[0], q * bid * fees[1]
    profit = q * (bid - ask) - buy_fee - sell_fee
    slippage = q * ((ask - planned[0]) + (planned[1] - bid))
    return Fill(q, ask, bid, q * ask, buy_fee, sell_fee, profit, slippage)
