"""Value types shared by the stages: feeds -> queue -> engine -> sink, and by replays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
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


Level = tuple[float, float]  # (price, amount)


class Book(NamedTuple):
    """An exchange's order book for one symbol after a change: its top levels each side,
    best first (bids by falling price, asks by rising price), as ccxt maintains it from the
    venue's snapshot and deltas. `resync` marks the first book after the feed rebuilt it
    from a fresh snapshot (a sequence break, a bad checksum, a reconnect): what came before
    it does not lead up to it. Times as for Tick."""

    exchange: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    timestamp: float
    received: float
    resync: bool = False


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
class BookTrade:
    """A signal's trade through both legs' order books: `quantity` base units (q*, the most
    profitable amount) bought at `buy_vwap` and sold at `sell_vwap` (average prices through
    the books, before fees), and `size_edges`: (notional, net edge in percent) at each of
    detector.sizes' quote notionals, the edge None where a book is too thin."""

    quantity: float
    buy_vwap: float
    sell_vwap: float
    size_edges: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True, slots=True)
class Signal:
    """A cross-exchange opportunity: buy on `buy_exchange` at its ask, sell on `sell_exchange`.

    Prices and sizes are the top of book's. With order books on both legs (exchanges with
    depth > 0) `book_trade` is the trade through them, and `profit` and `profit_percent`
    are its; without, it is None and profit is size · edge.
    """

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
    # One field, not four: every signal pays for each field it is built with.
    book_trade: BookTrade | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """An opportunity's life from open to close, persisted when it closes. `peak_profit` is
    the best executable profit (quote currency) seen while both legs had order books."""

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
    peak_profit: float | None = None


QueueItem = Tick | Book | FeedDown | FeedGap


@dataclass(frozen=True, slots=True)
class ExchangeParams:
    """One exchange's trading parameters (the detector's and paper executor's view of
    exchange_config)."""

    exchange: str
    enabled: bool
    arbitrage_enabled: bool
    region: str | None
    premium_baseline: float
    maker_fee: float
    taker_fee: float
    min_trade_amount: float
    max_trade_amount: float


@dataclass(frozen=True, slots=True)
class BalanceRow:
    exchange: str
    asset: str
    free: float
    locked: float


TradeStatus = Literal["pending", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class TradeParams:
    """A trade as planned from its signal (the spec's create_trade argument)."""

    signal_id: int | None
    symbol: str
    buy_exchange: str
    sell_exchange: str
    planned_buy_price: float
    planned_sell_price: float
    quantity: float
    planned_profit: float
    started_at: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionData:
    """How a trade ended (the spec's update_trade_execution argument). `quantity` is the
    filled quantity when it differs from the planned one (None keeps the planned)."""

    status: TradeStatus
    buy_order_id: str | None = None
    sell_order_id: str | None = None
    actual_buy_price: float | None = None
    actual_sell_price: float | None = None
    actual_profit: float | None = None
    fees_paid: float = 0.0
    slippage: float = 0.0
    error_message: str | None = None
    completed_at: str | None = None
    quantity: float | None = None


def iso_utc(ts: float) -> str:
    """UNIX seconds -> 'YYYY-MM-DD HH:MM:SS.fff' UTC (sorts and parses like SQLite's text)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
