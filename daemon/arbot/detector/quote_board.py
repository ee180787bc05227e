"""The detector's quotes: the latest quote per (symbol, exchange), grouped into the books
they are compared in, priced net of each venue's fee and premium baseline."""

# Hot path: a plain `if` costs less than a call to max()/min().
# ruff: noqa: PLR1730

from __future__ import annotations

from collections.abc import Mapping

from arbot.detector.scoring import best_spread
from arbot.detector.state import INF, Book, Quote, Venue, book_symbol, quote_group_names
from arbot.models import Book as OrderBook
from arbot.models import ExchangeParams, Tick
from arbot.settings import DetectorSettings


def quote_order(q: Quote) -> tuple[str, str, str]:
    return (q.book.key, q.venue.name, q.symbol)


class QuoteBoard:
    """Quotes of the venues that may be legs (enabled, arbitrage enabled); a tick of any
    other exchange finds no quote."""

    def __init__(self, settings: DetectorSettings, params: Mapping[str, ExchangeParams]) -> None:
        self.venues = {
            name: Venue(p) for name, p in params.items() if p.enabled and p.arbitrage_enabled
        }
        self._group_of = quote_group_names(settings.quote_groups)
        self._quotes: dict[str, dict[str, Quote]] = {}
        self._books: dict[str, Book] = {}

    def update(self, tick: Tick, now: float) -> Quote | None:
        """The tick's quote, updated, and its book's bounds widened; None if its exchange
        is not a leg."""
        exchange, symbol, bid, ask, bid_size, ask_size, ts, received = tick
        by_exchange = self._quotes.get(symbol)
        q = by_exchange.get(exchange) if by_exchange is not None else None
        if q is None:
            q = self._register(exchange, symbol)
            if q is None:
                return None
        venue = q.venue
        q.bid = bid
        q.ask = ask
        q.bid_size = bid_size
        q.ask_size = ask_size
        q.ts = ts
        q.received = received
        if bid_size is None or ask_size is None:
            q.net_bid = net_bid = -INF
            q.net_ask = net_ask = INF
        else:
            q.net_bid = net_bid = bid * venue.bid_mult
            q.net_ask = net_ask = ask * venue.ask_mult
        book = q.book
        book.last_now = now
        if net_bid > book.bid_ceiling:
            book.bid_ceiling = net_bid
        if net_ask < book.ask_floor:
            book.ask_floor = net_ask
        return q

    def update_book(self, ob: OrderBook, now: float, q: Quote | None = None) -> Quote | None:
        """The quote of the order book's (exchange, symbol) (`q` when the caller has it),
        holding the book now."""
        if q is None:
            q = self.quote(ob.exchange, ob.symbol)
        if q is None:
            return None
        q.order_book = ob
        q.book.last_now = now
        # A depth feed sends a tick only when the top changes: a book with the quote's top
        # confirms the quote is still current (never one a feed-down excluded, received
        # -inf).
        if q.received != -INF and ob.received > q.received and _same_top(q, ob):
            q.received = ob.received
            q.ts = ob.timestamp
        return q

    def feed_down(self, exchange: str) -> Venue | None:
        """Exclude the exchange's quotes and books until each gets a fresh tick; its venue,
        or None if it is not a leg."""
        venue = self.venues.get(exchange)
        if venue is None:
            return None
        for q in venue.quotes:
            q.received = -INF
            q.order_book = None
        return venue

    def reprice(self, params: Mapping[str, ExchangeParams]) -> set[Venue]:
        """Apply new exchange parameters: quotes re-priced at once with their venue's fees
        and baseline, new venues added; the venues no longer trading, to `forget` once
        their episodes are closed."""
        trading = {n: p for n, p in params.items() if p.enabled and p.arbitrage_enabled}
        for name, p in trading.items():
            venue = self.venues.get(name)
            if venue is None:
                self.venues[name] = Venue(p)
                continue
            venue.set_params(p)
            for q in venue.quotes:
                if q.bid_size is not None and q.ask_size is not None:
                    q.net_bid = q.bid * venue.bid_mult
                    q.net_ask = q.ask * venue.ask_mult
                    # Widen the book's bounds: they must stay bounds for the pre-filter.
                    q.book.bid_ceiling = max(q.book.bid_ceiling, q.net_bid)
                    q.book.ask_floor = min(q.book.ask_floor, q.net_ask)
        return {self.venues.pop(name) for name in list(self.venues) if name not in trading}

    def forget(self, gone: set[Venue]) -> None:
        """Drop the venues' quotes: their ticks find no quote and no venue now."""
        for venue in gone:
            for q in venue.quotes:
                del self._quotes[q.symbol][venue.name]
                q.book.quotes.remove(q)

    def best_spreads(self, max_age: float) -> Mapping[str, float]:
        """Best net profit_percent per book among legs at most `max_age` old as of the
        book's last tick; books with fewer than two venues quoting are left out."""
        result: dict[str, float] = {}
        for key, book in self._books.items():
            best = best_spread(book.quotes, book.last_now - max_age)
            if best is not None:
                result[key] = best
        return result

    def quote(self, exchange: str, symbol: str) -> Quote | None:
        q = self._quotes.get(symbol, {}).get(exchange)
        return q if q is not None else self._register(exchange, symbol)

    def _register(self, exchange: str, symbol: str) -> Quote | None:
        venue = self.venues.get(exchange)
        if venue is None:
            return None  # unknown or arbitrage-disabled exchange: never a leg
        key = book_symbol(symbol, self._group_of)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = Book(key)
        q = Quote(venue, symbol, book)
        book.quotes.append(q)
        # Name order, not order of first appearance: among equally good legs the first
        # wins, and which one that is must not depend on the order rows came in.
        book.quotes.sort(key=quote_order)
        venue.quotes.append(q)
        self._quotes.setdefault(symbol, {})[exchange] = q
        return q


def _same_top(q: Quote, ob: OrderBook) -> bool:
    return (
        bool(ob.bids and ob.asks)
        and ob.bids[0] == (q.bid, q.bid_size)
        and ob.asks[0] == (q.ask, q.ask_size)
    )
