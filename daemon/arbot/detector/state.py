"""The detector's mutable state: venues, latest quotes, books and open episodes.

Plain slotted classes (not dataclasses) because the hot path reads their attributes
millions of times a second; every price that can be precomputed per venue is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from arbot.models import Book as OrderBook
from arbot.models import ExchangeParams

INF = float("inf")


def quote_group_names(quote_groups: Sequence[Sequence[str]]) -> dict[str, str]:
    """Quote asset -> its group's name (the group's first asset): quotes of one group count
    as one asset, e.g. USDC as USDT for the group ("USDT", "USDC")."""
    return {quote: group[0] for group in quote_groups for quote in group}


def book_symbol(symbol: str, group_names: Mapping[str, str]) -> str:
    """The symbol of the book `symbol` trades in: BTC/USDC -> BTC/USDT in the example above."""
    base, _, quote = symbol.partition("/")
    group = group_names.get(quote)
    return f"{base}/{group}" if group is not None else symbol


class Venue:
    """One exchange's parameters, with the per-unit multipliers of the net-edge formula:
    proceeds of selling one unit = bid · (1 − taker) / (1 + premium_baseline),
    cost of buying one unit     = ask · (1 + taker) / (1 + premium_baseline)."""

    __slots__ = (
        "ask_mult",
        "bid_mult",
        "max_amount",
        "min_amount",
        "name",
        "premium",
        "quotes",
        "taker",
    )

    def __init__(self, params: ExchangeParams) -> None:
        self.name = params.exchange
        self.quotes: list[Quote] = []
        self.set_params(params)

    def set_params(self, params: ExchangeParams) -> None:
        base = 1.0 + params.premium_baseline
        self.bid_mult = (1.0 - params.taker_fee) / base
        self.ask_mult = (1.0 + params.taker_fee) / base
        self.min_amount = params.min_trade_amount
        self.max_amount = params.max_trade_amount
        self.taker = params.taker_fee
        self.premium = params.premium_baseline


class Quote:
    """The latest quote of one (exchange, symbol). `net_bid` / `net_ask` are the adjusted,
    fee-inclusive unit proceeds / cost; a quote without sizes gets −inf / +inf so it never
    wins a comparison (its depth is unknown, so it is never traded). `order_book` is the
    latest book of the (exchange, symbol) when its feed follows one (depth > 0)."""

    __slots__ = (
        "ask",
        "ask_size",
        "bid",
        "bid_size",
        "book",
        "net_ask",
        "net_bid",
        "order_book",
        "received",
        "symbol",
        "ts",
        "venue",
    )

    def __init__(self, venue: Venue, symbol: str, book: Book) -> None:
        self.venue = venue
        self.symbol = symbol
        self.book = book
        self.bid = self.ask = 0.0
        self.bid_size: float | None = None
        self.ask_size: float | None = None
        self.ts = 0.0
        # −inf: never fresh until a tick arrives (also how a feed-down excludes the quote).
        self.received = -INF
        self.net_bid = -INF
        self.net_ask = INF
        self.order_book: OrderBook | None = None


class Book:
    """All quotes that are compared with each other: one unified symbol, or one base asset
    across a quote group."""

    __slots__ = ("ask_floor", "bid_ceiling", "episodes", "key", "last_now", "quotes")

    def __init__(self, key: str) -> None:
        self.key = key
        self.quotes: list[Quote] = []
        self.episodes: dict[tuple[Quote, Quote], OpenEpisode] = {}
        self.last_now = -INF
        # Bounds on every quote's net_bid / net_ask (exact after a scan, only widened by
        # ticks in between): a tick that cannot cross them skips the scan.
        self.bid_ceiling = -INF
        self.ask_floor = INF


class OpenEpisode:
    """An opportunity (symbol, buy exchange, sell exchange) from its opening to its close.
    `peak_profit`: the best executable profit while both legs had books (else None)."""

    __slots__ = (
        "buy",
        "ewma",
        "ewma_at",
        "key",
        "last_signal_at",
        "last_signal_pct",
        "opened_at",
        "peak",
        "peak_profit",
        "resume_by",
        "sell",
        "signals",
        "symbol",
        "updates",
    )

    def __init__(self, symbol: str, buy: Quote, sell: Quote, pct: float, now: float) -> None:
        self.symbol = symbol
        self.buy = buy
        self.sell = sell
        legs = f"{buy.venue.name}|{sell.venue.name}"
        if buy.symbol != sell.symbol:  # a quote group: one venue may hold both symbols
            legs = f"{buy.venue.name}:{buy.symbol}|{sell.venue.name}:{sell.symbol}"
        self.key = f"{symbol}|{legs}|{now:.6f}"
        self.opened_at = now
        self.peak = pct
        self.peak_profit: float | None = None
        self.updates = 0
        self.signals = 0
        self.last_signal_pct = -INF
        self.last_signal_at = -INF
        self.ewma = pct
        self.ewma_at = now
        # A resumed episode waits until then for fresh quotes of its legs before a stale
        # leg closes it (after a restart no quote is fresh yet).
        self.resume_by = -INF
