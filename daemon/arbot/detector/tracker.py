"""The detector's episodes: an opportunity opened where a quote crosses another of its book,
re-evaluated at each update of its legs, signalled, and closed with its reason."""

# Hot path: a plain `if` costs less than a call to max()/min().
# ruff: noqa: PLR1730

from __future__ import annotations

from collections.abc import Callable, Sequence

from arbot.detector.books import DepthEdge, current_books, held
from arbot.detector.episodes import left_open, resumed
from arbot.detector.scoring import confidence, trade_size, update_trend
from arbot.detector.state import INF, Book, OpenEpisode, Quote
from arbot.models import Episode, Signal
from arbot.records import OpenEpisodeState
from arbot.settings import DetectorSettings

Output = Signal | Episode
Match = Callable[[OpenEpisode], bool]


class EpisodeTracker:
    """The open episodes and the thresholds they open, signal and close by."""

    def __init__(self, settings: DetectorSettings) -> None:
        # Books with open episodes, insertion-ordered so outputs are deterministic.
        self._active: dict[Book, None] = {}
        self.open = 0
        self.configure(settings)

    def configure(self, settings: DetectorSettings) -> None:
        self.max_age = settings.max_quote_age
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

    def scan(self, q: Quote, now: float, out: list[Output]) -> None:
        """Open the best cross with `q` as buyer and as seller, if any is new."""
        net_bid, net_ask, book, venue, ts = q.net_bid, q.net_ask, q.book, q.venue, q.ts
        cutoff = now - self.max_age
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

    def revisit(self, book: Book, updated: Sequence[Quote], now: float) -> list[Output]:
        """Re-evaluate the book's open episodes: fully where an updated quote is a leg,
        for staleness otherwise."""
        out: list[Output] = []
        cutoff = now - self.max_age
        for ep in list(book.episodes.values()):
            if ep.buy in updated or ep.sell in updated:
                self._evaluate(book, ep, now, out)
            elif (ep.buy.received < cutoff or ep.sell.received < cutoff) and now >= ep.resume_by:
                out.append(self._close(book, ep, now, "stale"))
        return out

    def sweep(self, now: float) -> list[Episode]:
        """Close episodes with a leg older than max_quote_age (for symbols gone quiet)."""
        cutoff = now - self.max_age
        return self.close_where(
            lambda ep: (
                (ep.buy.received < cutoff or ep.sell.received < cutoff) and now >= ep.resume_by
            ),
            now,
            "stale",
        )

    def close_where(self, match: Match, now: float, reason: str) -> list[Episode]:
        closed: list[Episode] = []
        for book in list(self._active):
            for ep in list(book.episodes.values()):
                if match(ep):
                    closed.append(self._close(book, ep, now, reason))
        return closed

    def open_state(self) -> list[OpenEpisodeState]:
        return [left_open(ep) for book in self._active for ep in book.episodes.values()]

    def reopen(self, st: OpenEpisodeState, buy: Quote, sell: Quote, now: float) -> None:
        """Resume an episode a previous run left open on these legs (of one book): it waits
        max_quote_age for fresh quotes of both."""
        book = buy.book
        book.episodes[(buy, sell)] = resumed(st, buy, sell, now + self.max_age)
        self._active[book] = None
        self.open += 1

    def _try_open(self, book: Book, buy: Quote, sell: Quote, now: float, out: list[Output]) -> None:
        pct = 100.0 * (sell.net_bid - buy.net_ask) / buy.net_ask
        if not pct > self._min_pct:
            return
        books = None
        if buy.order_book is not None and sell.order_book is not None:
            books = current_books(buy, sell, now - self.max_age)
        if books is None:
            if trade_size(buy, sell) <= 0.0:
                return
        elif not self._depth.opens(buy, sell, books):
            return
        symbol = buy.symbol if buy.symbol == sell.symbol else book.key
        ep = OpenEpisode(symbol, buy, sell, pct, now)
        book.episodes[(buy, sell)] = ep
        self._active[book] = None
        self.open += 1
        self._evaluate(book, ep, now, out)

    def _evaluate(self, book: Book, ep: OpenEpisode, now: float, out: list[Output]) -> None:
        buy, sell = ep.buy, ep.sell
        cutoff = now - self.max_age
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
            max_quote_age=self.max_age,
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
        self.open -= 1
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
