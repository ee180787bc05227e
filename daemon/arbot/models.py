"""Messages passed between stages: feeds -> queue -> pipeline -> detector / writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple


class Tick(NamedTuple):
    """A validated best bid/ask. Times are UNIX seconds; `timestamp` is the exchange's
    (or the receive time when the exchange sends none). A NamedTuple because at 100k
    ticks/s a tuple costs a third of a frozen dataclass."""

    exchange: str
    symbol: str
    bid: float
    ask: float
    bid_size: float | None
    ask_size: float | None
    timestamp: float
    received: float


@dataclass(frozen=True, slots=True)
class FeedDown:
    """An exchange's feed lost its connection at `since`; its quotes must not be used."""

    exchange: str
    since: float
    reason: str


@dataclass(frozen=True, slots=True)
class FeedGap:
    """A feed resumed: no data was received for `exchange` between `start` and `end`."""

    exchange: str
    start: float
    end: float
    reason: str


TrendDirection = Literal["widening", "narrowing", "stable"]


@dataclass(frozen=True, slots=True)
class Signal:
    """A cross-exchange opportunity: buy on `buy_exchange` at its ask, sell on `sell_exchange`."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    buy_price: float
    sell_price: float
    profit: float
    profit_percent: float
    buy_size: float
    sell_size: float
    confidence: float
    trend_direction: TrendDirection
    timestamp: float
    episode_key: str


@dataclass(frozen=True, slots=True)
class Episode:
    """An opportunity's life from open to close, persisted when it closes."""

    key: str
    symbol: str
    buy_exchange: str
    sell_exchange: str
    opened_at: float
    closed_at: float
    peak_profit_percent: float
    updates: int
    signals: int
    close_reason: str


QueueItem = Tick | FeedDown | FeedGap
