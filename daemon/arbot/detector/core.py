"""Cross-exchange arbitrage detection, sans-IO: ticks and `now` in, signals and episodes out.

Net edge per unit of buying on A at its ask and selling on B at its bid, each price first
brought to a world price by its venue's premium baseline (a venue trading 3 % above the
world has premium_baseline = 0.03 and its prices are divided by 1.03):

    cost     = ask_A / (1 + premium_A) · (1 + taker_A)
    proceeds = bid_B / (1 + premium_B) · (1 − taker_B)
    edge     = proceeds − cost;   profit_percent = 100 · edge / cost;   profit = size · edge

A leg is usable only if its quote is at most max_quote_age old (receive time against
`now`), its venue is not in a feed gap, and both legs' exchange timestamps are within
max_leg_skew. A quote without sizes is never a leg (its depth is unknown).

Where both legs also have an order book as fresh (exchanges with depth > 0), the trade is
sized through the books instead of the top of book's size (books.py): the episode logic
keeps running on the top of book's edge, the books decide whether there is a trade worth
opening or holding, and signals carry its profit.
"""

# Hot path: a plain `if` costs less than a call to max()/min().
# ruff: noqa: PLR1730

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from arbot.detector.books import DepthEdge, current_books, held
from arbot.detector.episodes import closed_state, left_open, resumed
from arbot.detector.scoring import best_spread, confidence, trade_size, update_trend
from arbot.detector.state import (
    INF,
    Book,
    OpenEpisode,
    Quote,
    Venue,
    book_symbol,
    quote_group_names,
)
from arbot.models import Book as OrderBook
from arbot.models import Episode, ExchangeParams, Signal, Tick
from arbot.records import OpenEpisodeState
from arbot.settings import DetectorSettings

Output = Signal | Episode
_Match = Callable[[OpenEpisode], bool]


def _quote_order(q: Quote) -> tuple[str, str, str]:
    return (q.book.key, q.venue.name, q.symbol)


class Detector:
    """Keeps the latest quote per (symbol, exchange) and the open episodes.

    An opportunity (symbol, buy exchange, sell exchange) opens when its profit_percent is
    strictly above min_profit_percent (so a zero edge never signals), and closes when it
    falls below min_profit_percent − hysteresis_percent, a leg goes stale, skews, loses its
    size, or its venue's feed goes down. It emits a Signal when it opens, then only when
    the profit improved by improve_step_percent over the last signal or `cooldown` seconds
    passed since it; an Episode when it closes. Where both legs have fresh order books the
    books replace the size condition: opening needs a trade through them at
    min_profit_percent worth min_profit_quote, staying open one at min_profit_percent −
    hysteresis_percent (else it closes as "depth"), and a signal the former. Legs are
    re-checked on every tick (or book) of the symbol; an episode whose legs stop updating
    closes at the next tick of its symbol, or at `sweep(now)`, which the daemon calls
    periodically.
    """

    def __init__(self, settings: DetectorSettings, params: Mapping[str, ExchangeParams]) -> None:
        self._venues = {
            name: Venue(p) for name, p in params.items() if p.enabled and p.arbitrage_enabled
        }
        self._group_of = quote_group_names(settings.quote_groups)
        self._quotes: dict[str, dict[str, Quote]] = {}
        self._books: dict[str, Book] = {}
        # Books with open episodes, insertion-ordered so outputs are deterministic.
        self._active: dict[Book, None] = {}
        self._open = 0
        self._thresholds(settings)

    def _thresholds(self, settings: DetectorSettings) -> None:
        self._max_age = settings.max_quote_age
        self._skew = settings.max_leg_skew
        self._min_pct = settings.min_profit_percent
        self._close_pct = settings.min_profit_percent - settings.hysteresis_percent
        # Pre-filter on unit prices, loosened by 1e-12 (relative) so that float rounding never
        # makes it stricter than the exact profit_percent test that follows it.
        self._open_mult = 1.0 + settings.min_profit_percent / 100.0 - 1e-12
        self._step = settings.improve_step_percent
        self._cooldown = settings.cooldown
        self._halflife = settings.trend_halflife
        self._trend_threshold = settings.trend_threshold_percent
        self._depth = DepthEdge(settings)

    def on_tick(self, tick: Tick, now: float) -> list[Output]:
        """Update the tick's quote, re-check the symbol's open episodes, and open the best
        cross with the updated exchange as buyer and as seller. O(exchanges of the symbol)."""
        q = self._update(tick, now)
        if q is None:
            return []
        out: list[Output] = self._revisit(q.book, (q,), now) if q.book.episodes else []
        self._scan(q, now, out)
        return out

    def on_instant(
        self, ticks: Sequence[Tick], now: float, books: Sequence[OrderBook] = ()
    ) -> list[Output]:
        """Ticks and order books of one instant (same timestamp): every quote and book is
        updated first, then each touched book is evaluated once, quotes in (book, exchange)
        order, so the result does not depend on the order of the items (of different
        exchanges or symbols)."""
        if len(ticks) == 1 and not books:
            return self.on_tick(ticks[0], now)
        touched: dict[Quote, None] = {}
        for tick in ticks:
            q = self._update(tick, now)
            if q is not None:
                touched[q] = None
        for ob in books:
            q = self._quote(ob.exchange, ob.symbol)
            if q is not None:
                q.order_book = ob
                q.book.last_now = now
                # A depth feed sends a tick only when the top changes: a book with the
                # quote's top confirms the quote is still current (never one a feed-down
                # excluded, received -inf).
                if q.received != -INF and ob.received > q.received and _same_top(q, ob):
                    q.received = ob.received
                    q.ts = ob.timestamp
                touched[q] = None
        ordered = sorted(touched, key=_quote_order)
        out: list[Output] = []
        by_book: dict[Book, list[Quote]] = {}
        for q in ordered:
            by_book.setdefault(q.book, []).append(q)
        for book, quotes in by_book.items():
            if book.episodes:
                out.extend(self._revisit(book, quotes, now))
        for q in ordered:
            self._scan(q, now, out)
        return out

    def _update(self, tick: Tick, now: float) -> Quote | None:
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

    def _scan(self, q: Quote, now: float, out: list[Output]) -> None:
        """Open the best cross with `q` as buyer and as seller, if any is new."""
        net_bid, net_ask, book, venue, ts = q.net_bid, q.net_ask, q.book, q.venue, q.ts
        cutoff = now - self._max_age
        if q.received < cutoff or net_ask == INF:
            return
        mult = self._open_mult
        if book.bid_ceiling <= net_ask * mult and net_bid <= book.ask_floor * mult:
            return  # no quote of the book can cross this one: the common case, O(1)
        skew = self._skew
        best_bid = ceiling = -INF
        best_ask = floor = INF
        seller: Quote | None = None
        buyer: Quote | None = None
        for o in book.quotes:
            if o.net_bid > ceiling:
                ceiling = o.net_bid
            if o.net_ask < floor:
                floor = o.net_ask
            if o.received < cutoff or o.venue is venue:
                continue
            d = o.ts - ts
            if d > skew or d < -skew:
                continue
            if o.net_bid > best_bid:
                best_bid = o.net_bid
                seller = o
            if o.net_ask < best_ask:
                best_ask = o.net_ask
                buyer = o
        book.bid_ceiling = ceiling
        book.ask_floor = floor
        if seller is not None and best_bid > net_ask * mult and (q, seller) not in book.episodes:
            self._try_open(book, q, seller, now, out)
        if buyer is not None and net_bid > best_ask * mult and (buyer, q) not in book.episodes:
            self._try_open(book, buyer, q, now, out)

    def on_feed_down(self, exchange: str, now: float) -> list[Episode]:
        """Exclude the exchange's quotes until each gets a fresh tick; close its episodes."""
        venue = self._venues.get(exchange)
        if venue is None:
            return []
        for q in venue.quotes:
            q.received = -INF
            q.order_book = None
        return self._close_where(
            lambda ep: ep.buy.venue is venue or ep.sell.venue is venue, now, "feed_down"
        )

    def sweep(self, now: float) -> list[Episode]:
        """Close episodes with a leg older than max_quote_age (for symbols gone quiet)."""
        cutoff = now - self._max_age
        return self._close_where(
            lambda ep: (
                (ep.buy.received < cutoff or ep.sell.received < cutoff) and now >= ep.resume_by
            ),
            now,
            "stale",
        )

    def close_all(self, now: float, reason: str = "shutdown") -> list[Episode]:
        """Close every open episode (at shutdown, or at the end of a replay)."""
        return self._close_where(lambda ep: True, now, reason)

    def open_episodes(self) -> int:
        return self._open

    def reconfigure(
        self, settings: DetectorSettings, params: Mapping[str, ExchangeParams], now: float
    ) -> list[Episode]:
        """Apply new thresholds and exchange parameters while running (quote_groups need a
        restart). Quotes are re-priced at once with their venue's new fees and baseline; a
        venue no longer trading stops being a leg and its episodes close ("config_changed")."""
        self._thresholds(settings)
        trading = {n: p for n, p in params.items() if p.enabled and p.arbitrage_enabled}
        for name, p in trading.items():
            venue = self._venues.get(name)
            if venue is None:
                self._venues[name] = Venue(p)
                continue
            venue.set_params(p)
            for q in venue.quotes:
                if q.bid_size is not None and q.ask_size is not None:
                    q.net_bid = q.bid * venue.bid_mult
                    q.net_ask = q.ask * venue.ask_mult
                    # Widen the book's bounds: they must stay bounds for the pre-filter.
                    q.book.bid_ceiling = max(q.book.bid_ceiling, q.net_bid)
                    q.book.ask_floor = min(q.book.ask_floor, q.net_ask)
        gone = {self._venues.pop(name) for name in list(self._venues) if name not in trading}
        closed = self._close_where(
            lambda ep: ep.buy.venue in gone or ep.sell.venue in gone, now, "config_changed"
        )
        for venue in gone:  # its ticks find no quote and no venue now: never a leg
            for q in venue.quotes:
                del self._quotes[q.symbol][venue.name]
                q.book.quotes.remove(q)
        return closed

    def open_state(self) -> list[OpenEpisodeState]:
        """The open episodes, to persist at a stop and `resume` at the next start."""
        return [left_open(ep) for book in self._active for ep in book.episodes.values()]

    def resume(self, states: Iterable[OpenEpisodeState], now: float) -> list[Episode]:
        """Reopen episodes a previous run left open. Each waits max_quote_age for fresh quotes
        of both legs, then goes on (same key, peak and counts) or closes for the reason its
        quotes give. Episodes whose exchanges no longer trade close at once ("not_resumed")."""
        closed: list[Episode] = []
        for st in states:
            buy = self._quote(st.buy_exchange, st.buy_symbol)
            sell = self._quote(st.sell_exchange, st.sell_symbol)
            if buy is None or sell is None or buy.book is not sell.book:
                closed.append(closed_state(st, now, "not_resumed"))
                continue
            book = buy.book
            book.episodes[(buy, sell)] = resumed(st, buy, sell, now + self._max_age)
            self._active[book] = None
            self._open += 1
        return closed

    def best_spreads(self) -> Mapping[str, float]:
        """Best net profit_percent per book among fresh legs as of the book's last tick
        (negative when nothing crosses; leg skew is not applied, to keep this O(quotes));
        books with fewer than two venues quoting are left out."""
        result: dict[str, float] = {}
        for key, book in self._books.items():
            best = best_spread(book.quotes, book.last_now - self._max_age)
            if best is not None:
                result[key] = best
        return result

    def _quote(self, exchange: str, symbol: str) -> Quote | None:
        q = self._quotes.get(symbol, {}).get(exchange)
        return q if q is not None else self._register(exchange, symbol)

    def _register(self, exchange: str, symbol: str) -> Quote | None:
        venue = self._venues.get(exchange)
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
        book.quotes.sort(key=_quote_order)
        venue.quotes.append(q)
        self._quotes.setdefault(symbol, {})[exchange] = q
        return q

    def _revisit(self, book: Book, updated: Sequence[Quote], now: float) -> list[Output]:
        """Re-evaluate the book's open episodes: fully where an updated quote is a leg,
        for staleness otherwise."""
        out: list[Output] = []
        cutoff = now - self._max_age
        for ep in list(book.episodes.values()):
            if ep.buy in updated or ep.sell in updated:
                self._evaluate(book, ep, now, out)
            elif (ep.buy.received < cutoff or ep.sell.received < cutoff) and now >= ep.resume_by:
                out.append(self._close(book, ep, now, "stale"))
        return out

    def _try_open(self, book: Book, buy: Quote, sell: Quote, now: float, out: list[Output]) -> None:
        pct = 100.0 * (sell.net_bid - buy.net_ask) / buy.net_ask
        if not pct > self._min_pct:
            return
        books = None
        if buy.order_book is not None and sell.order_book is not None:
            books = current_books(buy, sell, now - self._max_age)
        if books is None:
            if trade_size(buy, sell) <= 0.0:
                return
        elif not self._depth.opens(buy, sell, books):
            return
        symbol = buy.symbol if buy.symbol == sell.symbol else book.key
        ep = OpenEpisode(symbol, buy, sell, pct, now)
        book.episodes[(buy, sell)] = ep
        self._active[book] = None
        self._open += 1
        self._evaluate(book, ep, now, out)

    def _evaluate(self, book: Book, ep: OpenEpisode, now: float, out: list[Output]) -> None:
        buy, sell = ep.buy, ep.sell
        cutoff = now - self._max_age
        if buy.received < cutoff or sell.received < cutoff:
            if now >= ep.resume_by:
                out.append(self._close(book, ep, now, "stale"))
            return
        if abs(buy.ts - sell.ts) > self._skew:
            out.append(self._close(book, ep, now, "skew"))
            return
        # Two attribute tests, no call, where there are no books (the common case).
        books = None
        if buy.order_book is not None and sell.order_book is not None:
            books = current_books(buy, sell, cutoff)
        size = trade_size(buy, sell)
        if size <= 0.0 and books is None:
            out.append(self._close(book, ep, now, "size"))
            return
        pct = 100.0 * (sell.net_bid - buy.net_ask) / buy.net_ask
        # Strict, as opening is: with hysteresis 0 an edge that could not open an episode
        # (exactly min_profit_percent, a zero edge at min 0) does not keep one open.
        if not pct > self._close_pct:
            out.append(self._close(book, ep, now, "below_threshold"))
            return
        trade = None
        if books is not None:
            holds, trade = self._depth.measure(ep, books, pct)
            if not holds:
                out.append(self._close(book, ep, now, "depth"))
                return
        ep.updates += 1
        ep.peak = max(ep.peak, pct)
        trend = update_trend(ep, pct, now, self._halflife, self._trend_threshold)
        due = pct >= ep.last_signal_pct + self._step or now - ep.last_signal_at >= self._cooldown
        if not (pct > self._min_pct and due):
            return
        if books is None:
            quantity, level = size, min(buy.ask_size or 0.0, sell.bid_size or 0.0)
        elif trade is None:
            return  # the books hold no trade worth signalling now
        else:
            quantity, level = trade.quantity, held(books)
        conf = confidence(
            buy,
            sell,
            quantity,
            level,
            open_for=now - ep.opened_at,
            now=now,
            max_quote_age=self._max_age,
            max_leg_skew=self._skew,
            horizon=self._halflife,
        )
        if trade is None or books is None:
            out.append(
                Signal(
                    symbol=ep.symbol,
                    buy_exchange=buy.venue.name,
                    sell_exchange=sell.venue.name,
                    buy_price=buy.ask,
                    sell_price=sell.bid,
                    profit=size * (sell.net_bid - buy.net_ask),
                    profit_percent=pct,
                    buy_size=size,
                    sell_size=size,
                    confidence=conf,
                    trend_direction=trend,
                    timestamp=now,
                    episode_key=ep.key,
                )
            )
        else:
            out.append(
                self._depth.signal(
                    ep, books, trade, size=size, confidence=conf, trend=trend, now=now
                )
            )
        ep.signals += 1
        ep.last_signal_pct = pct
        ep.last_signal_at = now

    def _close(self, book: Book, ep: OpenEpisode, now: float, reason: str) -> Episode:
        del book.episodes[(ep.buy, ep.sell)]
        if not book.episodes:
            del self._active[book]
        self._open -= 1
        return Episode(
            key=ep.key,
            symbol=ep.symbol,
            buy_exchange=ep.buy.venue.name,
            sell_exchange=ep.sell.venue.name,
            opened_at=ep.opened_at,
            closed_at=now,
            peak_profit_percent=ep.peak,
            updates=ep.updates,
            signals=ep.signals,
            close_reason=reason,
            peak_profit=ep.peak_profit,
        )

    def _close_where(self, match: _Match, now: float, reason: str) -> list[Episode]:
        closed: list[Episode] = []
        for book in list(self._active):
            for ep in list(book.episodes.values()):
                if match(ep):
                    closed.append(self._close(book, ep, now, reason))
        return closed


def _same_top(q: Quote, ob: OrderBook) -> bool:
    return (
        bool(ob.bids and ob.asks)
        and ob.bids[0] == (q.bid, q.bid_size)
        and ob.asks[0]
        == (
            q.ask,
            q.ask_size,
        )
    )
