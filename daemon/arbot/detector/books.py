"""The executable edge of a cross whose two legs both have a current order book (exchanges
with depth > 0), sans-IO, on depth.py's math:

    q*          the base amount that maximises profit buying up the buy venue's asks and
                selling down the sell venue's bids (net of taker fees and premium baselines),
                at profit_percent ≥ the threshold, each leg's notional within its venue's
                trade limits; its profit must reach detector.min_profit_quote
    size edges  the net edge in percent at each of detector.sizes' quote notionals (buy
                notional before fee), None where either book is too thin

The trade limits bound each leg's notional in its own prices, as scoring.trade_size does at
the top of book: min_buy ≤ Σ ask · amount ≤ max_buy and min_sell ≤ Σ bid · amount ≤ max_sell.
best_trade bounds the buy notional only; both notionals grow with the amount, so a sell
bound is the buy notional of the amount whose sell notional meets it.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbot.detector.depth import (
    Level,
    Trade,
    amount_for,
    best_trade,
    edge_at_notional,
    value_of,
)
from arbot.detector.state import OpenEpisode, Quote, Venue
from arbot.models import Book as OrderBook
from arbot.models import BookTrade, Signal, TrendDirection
from arbot.settings import DetectorSettings

Books = tuple[OrderBook, OrderBook]  # the buy leg's, the sell leg's


def current_books(buy: Quote, sell: Quote, cutoff: float) -> Books | None:
    """Both legs' order books if each was received at or after `cutoff`, else None."""
    a, b = buy.order_book, sell.order_book
    if a is None or b is None or a.received < cutoff or b.received < cutoff:
        return None
    return a, b


def held(books: Books) -> float:
    """Base amount the thinner side of the cross holds: the buy book's asks, the sell
    book's bids (as far as the feed follows them)."""
    asks = sum(amount for _, amount in books[0].asks)
    bids = sum(amount for _, amount in books[1].bids)
    return asks if asks < bids else bids


class DepthEdge:
    """The detector's thresholds for trades through books."""

    __slots__ = ("_close_pct", "_min_pct", "_min_quote", "_sizes")

    def __init__(self, settings: DetectorSettings) -> None:
        self._min_pct = settings.min_profit_percent
        self._close_pct = settings.min_profit_percent - settings.hysteresis_percent
        self._min_quote = settings.min_profit_quote
        self._sizes = settings.sizes

    def opens(self, buy: Quote, sell: Quote, books: Books) -> bool:
        """The books hold a trade at min_profit_percent worth min_profit_quote."""
        return self._trade(buy.venue, sell.venue, books, self._min_pct) is not None

    def measure(self, ep: OpenEpisode, books: Books, pct: float) -> tuple[bool, Trade | None]:
        """Whether the books still hold the open episode, and the trade to signal: q* at
        min_profit_percent, if it is worth min_profit_quote (its profit goes into the
        episode's peak). The episode is held while a trade at min_profit_percent −
        hysteresis_percent is worth it: the top of book's hysteresis, carried to the books.
        `pct` is the top of book's edge, which bounds every executable one."""
        buy_venue, sell_venue = ep.buy.venue, ep.sell.venue
        if pct > self._min_pct:
            trade = self._trade(buy_venue, sell_venue, books, self._min_pct)
            if trade is not None:
                if ep.peak_profit is None or trade.profit > ep.peak_profit:
                    ep.peak_profit = trade.profit
                return True, trade
        return self._trade(buy_venue, sell_venue, books, self._close_pct) is not None, None

    def signal(
        self,
        ep: OpenEpisode,
        books: Books,
        trade: Trade,
        *,
        size: float,
        confidence: float,
        trend: TrendDirection,
        now: float,
    ) -> Signal:
        """The episode's signal for `trade`: top-of-book prices and size, executable profit."""
        buy, sell = ep.buy, ep.sell
        asks, bids = books[0].asks, books[1].bids
        bv, sv = buy.venue, sell.venue
        edges = tuple(
            (
                n,
                edge_at_notional(
                    asks,
                    bids,
                    n,
                    taker_buy=bv.taker,
                    taker_sell=sv.taker,
                    premium_buy=bv.premium,
                    premium_sell=sv.premium,
                ),
            )
            for n in self._sizes
        )
        return Signal(
            symbol=ep.symbol,
            buy_exchange=bv.name,
            sell_exchange=sv.name,
            buy_price=buy.ask,
            sell_price=sell.bid,
            profit=trade.profit,
            profit_percent=trade.profit_percent,
            buy_size=size,
            sell_size=size,
            confidence=confidence,
            trend_direction=trend,
            timestamp=now,
            episode_key=ep.key,
            book_trade=BookTrade(trade.quantity, trade.buy_vwap, trade.sell_vwap, edges),
        )

    def _trade(self, bv: Venue, sv: Venue, books: Books, min_percent: float) -> Trade | None:
        """q* at profit_percent ≥ min_percent within both venues' limits, if its profit
        reaches min_profit_quote."""
        trade = best_trade_within(bv, sv, books[0].asks, books[1].bids, min_percent)
        if trade is None or trade.profit < self._min_quote:
            return None
        return trade


def best_trade_within(
    bv: Venue, sv: Venue, asks: Sequence[Level], bids: Sequence[Level], min_percent: float
) -> Trade | None:
    """depth.best_trade buying on `bv` and selling on `sv`, each leg's notional within its
    venue's min/max trade amount; None when no such trade makes a positive profit."""
    low, high = bv.min_amount, bv.max_amount
    if sv.min_amount > 0.0:
        # The amount selling for min_sell, and what buying it costs: the least to buy.
        amount = amount_for(bids, sv.min_amount)
        notional = None if amount is None else value_of(asks, amount)
        if notional is None:
            return None  # a book cannot take the sell leg's minimum
        low = max(low, notional)

    def walk(max_notional: float) -> Trade | None:
        return best_trade(
            asks,
            bids,
            taker_buy=bv.taker,
            taker_sell=sv.taker,
            premium_buy=bv.premium,
            premium_sell=sv.premium,
            min_profit_percent=min_percent,
            min_notional=low,
            max_notional=max_notional,
        )

    trade = walk(high)
    if trade is None or trade.quantity * trade.sell_vwap <= sv.max_amount:
        return trade
    # The sell leg's maximum binds. Profit is concave in the amount and q* lies beyond the
    # bound, so the best trade within it ends at the bound: cap the buy notional there.
    amount = amount_for(bids, sv.max_amount)
    cap = None if amount is None else value_of(asks, amount)
    return walk(high if cap is None or cap > high else cap)
