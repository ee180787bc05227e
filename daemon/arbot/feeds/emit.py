"""What one feed hands on: validated ticks and order books of its symbols, and the gaps a
broken update sequence, a book resync or a full capture buffer reveal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arbot.feeds.capture import BookError, Received
from arbot.feeds.ccxt_client import ExchangeClient
from arbot.feeds.outage import Outage, Put
from arbot.feeds.sequence import SequenceCheck
from arbot.feeds.validate import to_book, to_tick, top_of
from arbot.metrics import REJECT_REASONS, Metrics
from arbot.models import FeedGap, Level


class Emitter:
    """Turns a feed's raw quotes and books into queue items; each valid one resumes the
    feed (`Outage.resume`)."""

    def __init__(
        self,
        name: str,
        symbols: frozenset[str],
        put: Put,
        metrics: Metrics,
        *,
        clock: Callable[[], float],
        log: Any,
        outage: Outage,
        sequence: SequenceCheck | None,
    ) -> None:
        self.name = name
        self._symbols = symbols
        self._put = put
        self._clock = clock
        self._log = log
        self._outage = outage
        self._sequence = sequence
        self._last_ts: dict[str, float] = {}
        # Labelled children looked up once: labels() per quote was ~9 % of a feed's CPU.
        self._received = metrics.ticks_received.labels(name)
        self._latency = metrics.latency.labels(name)
        self._last_tick = metrics.last_tick.labels(name)
        self._rejected = {
            reason: metrics.ticks_rejected.labels(name, reason) for reason in REJECT_REASONS
        }
        self._sequence_gaps = metrics.sequence_gaps.labels(name)
        self._book_updates = metrics.book_updates.labels(name)
        self._book_resyncs = metrics.book_resyncs.labels(name)
        self._dropped = metrics.quotes_dropped.labels(name)
        # depth > 0: symbols whose next book is rebuilt from a snapshot (flagged resync),
        # the time of each symbol's last book, a gap to record per resyncing symbol, and the
        # last top of book handed on as a tick.
        self._fresh = set(symbols)
        self._book_received: dict[str, float] = {}
        self._resyncing: dict[str, tuple[float, str]] = {}
        self._tops: dict[str, tuple[Level, Level]] = {}

    async def emit(self, quotes: list[Received], dedupe: bool = False) -> None:
        valid = 0
        received = quotes[-1][1] if quotes else self._clock()
        for raw, received in quotes:
            tick = to_tick(self.name, raw, received)
            if isinstance(tick, str):
                self._rejected[tick].inc()
                self._log.debug("tick_rejected", reason=tick, symbol=raw.get("symbol"))
                continue
            if tick.symbol not in self._symbols:
                continue
            valid += 1
            if self._sequence is not None:
                await self._check_sequence(tick.symbol, raw, received)
            if raw.get("timestamp") is not None:
                if dedupe and self._last_ts.get(tick.symbol) == tick.timestamp:
                    continue  # REST returned the quote we already have
                self._last_ts[tick.symbol] = tick.timestamp
                self._latency.observe(received - tick.timestamp)
            await self._outage.resume(received)
            self._received.inc()
            await self._put(tick)
        last = self._outage.last_received
        if valid and last is not None:
            self._last_tick.set(last)
        self._outage.status.answered(self._clock())  # the puts may have waited on a full queue
        await self._outage.check_rejecting(valid, received)

    async def emit_book(self, raw: dict[str, Any], received: float) -> None:
        book = to_book(self.name, raw, received)
        if isinstance(book, str):
            self._rejected[book].inc()
            self._log.debug("book_rejected", reason=book, symbol=raw.get("symbol"))
            return
        symbol = book.symbol
        if symbol not in self._symbols:
            return
        await self._outage.resume(received)
        gap = self._resyncing.pop(symbol, None)
        if gap is not None:
            await self._put(FeedGap(self.name, gap[0], received, gap[1]))
        if symbol in self._fresh:
            self._fresh.discard(symbol)
            book = book._replace(resync=True)
        self._book_received[symbol] = received
        top = (book.bids[0], book.asks[0])
        if self._tops.get(symbol) != top:  # a deeper change leaves the quote as it was
            self._tops[symbol] = top
            if raw.get("timestamp") is not None:
                self._latency.observe(received - book.timestamp)
            self._received.inc()
            await self._put(top_of(book))
        self._book_updates.inc()
        await self._put(book)
        last = self._outage.last_received
        if last is not None:
            self._last_tick.set(last)

    def books_lost(self) -> None:
        """Books are rebuilt after a reconnect, and their first top is a tick again (the
        feed's down marked its quotes unusable)."""
        self._fresh.update(self._symbols)
        self._tops.clear()

    def book_dropped(self, client: ExchangeClient, item: BookError) -> None:
        """ccxt threw `item.symbol`'s book away: watch it again (a fresh snapshot); the
        changes in between are unknown, so its next book records a gap from the last one."""
        self._book_resyncs.inc()
        error = f"{type(item.error).__name__}: {item.error}"
        self._log.warning("book_resync", symbol=item.symbol, error=error)
        since = self._book_received.get(item.symbol, self._outage.last_received)
        if since is not None and item.symbol not in self._resyncing:
            self._resyncing[item.symbol] = (since, f"book resync {item.symbol}: {error}"[:200])
        self._fresh.add(item.symbol)
        self._tops.pop(item.symbol, None)
        client.rewatch(item.symbol)

    async def report_dropped(self, client: ExchangeClient) -> None:
        """Quotes the capture buffer dropped while the queue was full: counted, and the
        span they covered recorded as a feed gap."""
        count, first, last = client.take_dropped()
        if count:
            self._dropped.inc(count)
            reason = f"capture buffer full: {count} quotes dropped"
            self._log.warning("quotes_dropped", count=count)
            await self._put(FeedGap(self.name, first, last, reason))

    def count_absent(self, raws: list[dict[str, Any]]) -> None:
        """A REST answer without a quote we asked for (an HTML page, an empty result)
        counts as a malformed tick for each missing symbol."""
        present = {raw.get("symbol") for raw in raws}
        for symbol in self._symbols.difference(present):
            self._rejected["malformed"].inc()
            self._log.debug("tick_rejected", reason="malformed", symbol=symbol)

    async def _check_sequence(self, symbol: str, raw: dict[str, Any], received: float) -> None:
        assert self._sequence is not None
        gap = self._sequence.check(symbol, raw, received)
        if gap is not None:
            reason, since = gap
            self._sequence_gaps.inc()
            self._log.warning("sequence_gap", reason=reason)
            await self._put(FeedGap(self.name, since, received, reason))
