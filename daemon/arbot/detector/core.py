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

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from arbot.detector.episodes import closed_state
from arbot.detector.quote_board import QuoteBoard, quote_order
from arbot.detector.state import Book, Quote
from arbot.detector.tracker import EpisodeTracker, Output
from arbot.models import Book as OrderBook
from arbot.models import Episode, ExchangeParams, Tick
from arbot.records import OpenEpisodeState
from arbot.settings import DetectorSettings


class Detector:
    """Keeps the latest quote per (symbol, exchange) (quote_board.py) and the open episodes
    (tracker.py).

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
        self._board = QuoteBoard(settings, params)
        self._episodes = EpisodeTracker(settings)

    def on_tick(self, tick: Tick, now: float) -> list[Output]:
        """Update the tick's quote, re-check the symbol's open episodes, and open the best
        cross with the updated exchange as buyer and as seller. O(exchanges of the symbol)."""
        q = self._board.update(tick, now)
        return [] if q is None else self._evaluate(q, now)

    def on_instant(
        self, ticks: Sequence[Tick], now: float, books: Sequence[OrderBook] = ()
    ) -> list[Output]:
        """Ticks and order books of one instant (same timestamp): every quote and book is
        updated first, then each touched book is evaluated once, quotes in (book, exchange)
        order, so the result does not depend on the order of the items (of different
        exchanges or symbols)."""
        if len(ticks) == 1 and not books:
            return self.on_tick(ticks[0], now)
        if len(books) == 1 and len(ticks) <= 1:
            # The depth feed's usual instant: one book, maybe with its top's tick. One
            # quote is touched, so the general path's ordering has nothing to order.
            ob = books[0]
            if not ticks or (ticks[0].exchange, ticks[0].symbol) == (ob.exchange, ob.symbol):
                return self._one(ticks[0] if ticks else None, ob, now)
        touched: dict[Quote, None] = {}
        for tick in ticks:
            q = self._board.update(tick, now)
            if q is not None:
                touched[q] = None
        for ob in books:
            q = self._board.update_book(ob, now)
            if q is not None:
                touched[q] = None
        ordered = sorted(touched, key=quote_order)
        out: list[Output] = []
        by_book: dict[Book, list[Quote]] = {}
        for q in ordered:
            by_book.setdefault(q.book, []).append(q)
        for book, quotes in by_book.items():
            if book.episodes:
                out.extend(self._episodes.revisit(book, quotes, now))
        for q in ordered:
            self._episodes.scan(q, now, out)
        return out

    def _one(self, tick: Tick | None, ob: OrderBook, now: float) -> list[Output]:
        q = self._board.update(tick, now) if tick is not None else None
        q = self._board.update_book(ob, now, q)
        return [] if q is None else self._evaluate(q, now)

    def _evaluate(self, q: Quote, now: float) -> list[Output]:
        """Re-check the open episodes of q's book, then open the best cross with q's venue
        as a leg."""
        episodes = self._episodes
        out: list[Output] = episodes.revisit(q.book, (q,), now) if q.book.episodes else []
        episodes.scan(q, now, out)
        return out

    def on_feed_down(self, exchange: str, now: float) -> list[Episode]:
        """Exclude the exchange's quotes until each gets a fresh tick; close its episodes."""
        venue = self._board.feed_down(exchange)
        if venue is None:
            return []
        return self._episodes.close_where(
            lambda ep: ep.buy.venue is venue or ep.sell.venue is venue, now, "feed_down"
        )

    def sweep(self, now: float) -> list[Episode]:
        """Close episodes with a leg older than max_quote_age (for symbols gone quiet)."""
        return self._episodes.sweep(now)

    def close_all(self, now: float, reason: str = "shutdown") -> list[Episode]:
        """Close every open episode (at shutdown, or at the end of a replay)."""
        return self._episodes.close_where(lambda ep: True, now, reason)

    def open_episodes(self) -> int:
        return self._episodes.open

    def reconfigure(
        self, settings: DetectorSettings, params: Mapping[str, ExchangeParams], now: float
    ) -> list[Episode]:
        """Apply new thresholds and exchange parameters while running (quote_groups need a
        restart). Quotes are re-priced at once with their venue's new fees and baseline; a
        venue no longer trading stops being a leg and its episodes close ("config_changed")."""
        self._episodes.configure(settings)
        gone = self._board.reprice(params)
        closed = self._episodes.close_where(
            lambda ep: ep.buy.venue in gone or ep.sell.venue in gone, now, "config_changed"
        )
        self._board.forget(gone)
        return closed

    def open_state(self) -> list[OpenEpisodeState]:
        """The open episodes, to persist at a stop and `resume` at the next start."""
        return self._episodes.open_state()

    def resume(self, states: Iterable[OpenEpisodeState], now: float) -> list[Episode]:
        """Reopen episodes a previous run left open. Each waits max_quote_age for fresh quotes
        of both legs, then goes on (same key, peak and counts) or closes for the reason its
        quotes give. Episodes whose exchanges no longer trade close at once ("not_resumed")."""
        closed: list[Episode] = []
        for st in states:
            buy = self._board.quote(st.buy_exchange, st.buy_symbol)
            sell = self._board.quote(st.sell_exchange, st.sell_symbol)
            if buy is None or sell is None or buy.book is not sell.book:
                closed.append(closed_state(st, now, "not_resumed"))
                continue
            self._episodes.reopen(st, buy, sell, now)
        return closed

    def best_spreads(self) -> Mapping[str, float]:
        """Best net profit_percent per book among fresh legs as of the book's last tick
        (negative when nothing crosses; leg skew is not applied, to keep this O(quotes));
        books with fewer than two venues quoting are left out."""
        return self._board.best_spreads(self._episodes.max_age)
