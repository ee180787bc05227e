"""One exchange's feed: websockets or REST polling, reconnecting forever, emitting validated
ticks plus FeedDown / FeedGap around outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arbot.errors import ExchangeSetupError, FatalFeedError, TransientFeedError
from arbot.feeds.backoff import Backoff
from arbot.feeds.capture import BookError, Received
from arbot.feeds.ccxt_client import ExchangeClient
from arbot.feeds.sequence import SequenceCheck
from arbot.feeds.status import SUPERVISOR_SLACK, FeedStatus
from arbot.feeds.validate import to_book, to_tick, top_of
from arbot.logs import error_chain, get_logger
from arbot.metrics import REJECT_REASONS, Metrics
from arbot.models import FeedDown, FeedGap, Level, QueueItem
from arbot.settings import ExchangeSettings

Put = Callable[[QueueItem], Awaitable[None]]


async def run_feed(
    cfg: ExchangeSettings,
    put: Put,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
    *,
    last_tick: float | None = None,
    status: FeedStatus | None = None,
    capture: bool = True,
) -> None:
    """Run `cfg`'s feed until cancelled. Raises ExchangeSetupError for an unknown exchange
    or symbol; every other problem is retried forever. `last_tick`, the receive time of the
    exchange's last tick stored by a previous run, makes the first tick put a FeedGap
    (reason "restart") covering the time the daemon was not running. `status` receives the
    feed's errors, answers and retries (health and watchdog). `capture=False` delivers only
    what ccxt's watch_* calls return (the latest quote per symbol; for the capture
    benchmark)."""
    await Feed(cfg, put, metrics, clock, last_tick, status=status, capture=capture).supervise()


class Feed:
    def __init__(
        self,
        cfg: ExchangeSettings,
        put: Put,
        metrics: Metrics,
        clock: Callable[[], float],
        last_tick: float | None = None,
        *,
        status: FeedStatus | None = None,
        capture: bool = True,
    ) -> None:
        self.cfg = cfg
        self._capture = capture
        self._sequence = SequenceCheck.for_exchange(cfg.id)
        self.name = cfg.name
        self._put = put
        self._clock = clock
        self._log = get_logger(exchange=cfg.name)
        self._symbols = frozenset(cfg.symbols)
        # Delays scale with the poll interval so tests with tiny intervals stay fast;
        # production (poll_interval >= 1 s) gets 1 s .. 60 s.
        base = min(1.0, cfg.poll_interval)
        self._backoff = Backoff(base, 60 * base)
        self._ws_probe = Backoff(5 * base, 60 * base)
        # A previous run's last tick makes this run start "down since then".
        self._last_received: float | None = last_tick
        self._down_since: float | None = last_tick
        self._down_reason = "restart" if last_tick is not None else ""
        self._last_ts: dict[str, float] = {}
        self._started = clock()
        self.status = status or FeedStatus(cfg.name, self._started)
        self.status.stuck_after = 2 * max(cfg.watch_timeout, cfg.poll_interval) + SUPERVISOR_SLACK
        # Since when every answer was rejected (None: the last answer had a valid quote).
        self._rejecting_since: float | None = None
        self._received = metrics.ticks_received.labels(self.name)
        self._rejected = {
            reason: metrics.ticks_rejected.labels(self.name, reason) for reason in REJECT_REASONS
        }
        self._sequence_gaps = metrics.sequence_gaps.labels(self.name)
        self._restarts = metrics.feed_restarts.labels(self.name)
        self._offline_hinted = False
        self._book_updates = metrics.book_updates.labels(self.name)
        self._book_resyncs = metrics.book_resyncs.labels(self.name)
        # depth > 0: symbols whose next book is rebuilt from a snapshot (flagged resync),
        # the time of each symbol's last book, a gap to record per resyncing symbol, and the
        # last top of book handed on as a tick.
        self._fresh = set(self._symbols)
        self._book_received: dict[str, float] = {}
        self._resyncing: dict[str, tuple[float, str]] = {}
        self._tops: dict[str, tuple[Level, Level]] = {}
        self._dropped = metrics.quotes_dropped.labels(self.name)
        self._metrics = metrics
        metrics.init_exchange(self.name)
        metrics.seconds_since_tick.labels(self.name).set_function(self._seconds_since_tick)

    async def supervise(self) -> None:
        """Run the feed until cancelled. Whatever escapes it (a bug of ours, a library's
        surprise) is an outage of this exchange alone: logged with its traceback, counted in
        arbot_feed_restarts_total, and the feed restarted after the backoff with its state
        kept, so the first tick after it closes the gap. Only ExchangeSetupError ends it."""
        while True:
            try:
                await self.run()
            except ExchangeSetupError:
                raise
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stopping: an error while closing must not restart the feed
                self._restarts.inc()
                self._log.error("feed_crashed", exc_info=True)
                crash = TransientFeedError(f"{type(exc).__name__}: {exc}", kind="crash")
                await self._failed(crash, "feed")

    async def run(self) -> None:
        client = ExchangeClient(self.cfg, self._clock, capture=self._capture)
        try:
            await self._load_markets(client)
            if self.cfg.depth:
                await self._follow_books(client)
            elif self.cfg.mode == "rest" or not client.can_watch:
                if self.cfg.mode == "ws":
                    self._log.warning("websocket_unavailable", using="rest")
                await self._poll_forever(client)
            elif self.cfg.mode == "ws":
                await self._watch(client, fall_back=False)
            else:
                while True:
                    await self._watch(client, fall_back=True)
                    await self._poll_until_ws_returns(client)
        finally:
            self._metrics.feed_up.labels(self.name).set(0)
            try:
                await client.close()
            except Exception as exc:  # a connection already broken; the next run opens anew
                self._log.warning("feed_close_failed", error=f"{type(exc).__name__}: {exc}")

    async def _load_markets(self, client: ExchangeClient) -> None:
        while True:
            try:
                await client.load_markets()
            except (TransientFeedError, FatalFeedError) as exc:
                await self._failed(exc, "load_markets")
                continue
            self._backoff.reset()
            self.status.answered(self._clock())
            self._log.info("markets_loaded", watch=client.watch_method, fetch=client.fetch_method)
            return

    async def _watch(self, client: ExchangeClient, fall_back: bool) -> None:
        """Deliver websocket updates; return on the first failure when `fall_back`."""
        self._metrics.feed_mode.labels(self.name).set(1)
        self._log.info("feed_connecting", mode="ws")
        while True:
            try:
                raws = await client.watch()
            except (TransientFeedError, FatalFeedError) as exc:
                if fall_back:
                    await self._down(exc, "ws")
                    self._log.warning(
                        "ws_failed_polling_rest", error=str(exc), cause=error_chain(exc)
                    )
                    return
                await self._failed(exc, "ws")
                continue
            await self._emit(raws)
            await self._report_dropped(client)
            self._backoff.reset()

    async def _follow_books(self, client: ExchangeClient) -> None:
        """depth > 0: each symbol's order book over websockets (REST polling in rest mode or
        where the venue has no book stream; auto does not fall back to REST yet), its quotes
        taken from the book's top."""
        rest = self.cfg.mode == "rest" or not client.can_watch
        self._metrics.feed_mode.labels(self.name).set(0 if rest else 1)
        self._log.info("feed_connecting", mode="rest" if rest else "ws", depth=self.cfg.depth)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if rest:
                    received = self._clock()
                    items: list[Received | BookError] = [
                        (raw, received) for raw in await client.fetch_books()
                    ]
                else:
                    items = await client.watch_books()
            except (TransientFeedError, FatalFeedError) as exc:
                # Books are rebuilt after a reconnect, and their first top is a tick again
                # (the feed's down marked its quotes unusable).
                self._fresh.update(self._symbols)
                self._tops.clear()
                await self._failed(exc, "rest" if rest else "ws")
                continue
            for item in items:
                if isinstance(item, BookError):
                    self._book_dropped(client, item)
                else:
                    await self._emit_book(*item)
            self.status.answered(self._clock())
            await self._report_dropped(client)
            self._backoff.reset()
            if rest:
                await asyncio.sleep(max(0.0, self.cfg.poll_interval - (loop.time() - started)))

    def _book_dropped(self, client: ExchangeClient, item: BookError) -> None:
        """ccxt threw `item.symbol`'s book away: watch it again (a fresh snapshot); the
        changes in between are unknown, so its next book records a gap from the last one."""
        self._book_resyncs.inc()
        error = f"{type(item.error).__name__}: {item.error}"
        self._log.warning("book_resync", symbol=item.symbol, error=error)
        since = self._book_received.get(item.symbol, self._last_received)
        if since is not None and item.symbol not in self._resyncing:
            self._resyncing[item.symbol] = (since, f"book resync {item.symbol}: {error}"[:200])
        self._fresh.add(item.symbol)
        self._tops.pop(item.symbol, None)
        client.rewatch(item.symbol)

    async def _emit_book(self, raw: dict[str, Any], received: float) -> None:
        book = to_book(self.name, raw, received)
        if isinstance(book, str):
            self._rejected[book].inc()
            self._log.debug("book_rejected", reason=book, symbol=raw.get("symbol"))
            return
        symbol = book.symbol
        if symbol not in self._symbols:
            return
        await self._resume(received)
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
                self._metrics.latency.labels(self.name).observe(received - book.timestamp)
            self._received.inc()
            await self._put(top_of(book))
        self._book_updates.inc()
        await self._put(book)
        if self._last_received is not None:
            self._metrics.last_tick.labels(self.name).set(self._last_received)

    async def _poll_forever(self, client: ExchangeClient) -> None:
        self._metrics.feed_mode.labels(self.name).set(0)
        self._log.info("feed_connecting", mode="rest", interval=self.cfg.poll_interval)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                raws = await client.fetch()
            except (TransientFeedError, FatalFeedError) as exc:
                await self._failed(exc, "rest")
                continue
            received = self._clock()
            self._count_absent(raws)
            await self._emit([(raw, received) for raw in raws], dedupe=True)
            self._backoff.reset()
            await asyncio.sleep(max(0.0, self.cfg.poll_interval - (loop.time() - started)))

    async def _poll_until_ws_returns(self, client: ExchangeClient) -> None:
        """Poll REST while probing the websocket now and then; switch back on its first data."""
        async with asyncio.TaskGroup() as tasks:
            poller = tasks.create_task(self._poll_forever(client))
            raws = await self._probe_ws(client)
            poller.cancel()
        self._ws_probe.reset()
        self._metrics.feed_mode.labels(self.name).set(1)
        self._log.info("ws_restored")
        await self._emit(raws)

    async def _probe_ws(self, client: ExchangeClient) -> list[Received]:
        retry_after: float | None = None
        while True:
            await asyncio.sleep(self._ws_probe.next(retry_after))
            try:
                raws = await client.watch()
            except (TransientFeedError, FatalFeedError) as exc:
                self._count_error(exc)
                retry_after = exc.retry_after if isinstance(exc, TransientFeedError) else None
                self._log.info(
                    "ws_probe_failed",
                    error=str(exc),
                    cause=error_chain(exc),
                    retry_after=retry_after,
                )
                continue
            return raws

    async def _failed(self, exc: TransientFeedError | FatalFeedError, where: str) -> None:
        """Mark the feed down, then wait out the backoff (or the server's Retry-After)."""
        await self._down(exc, where)
        retry_after = exc.retry_after if isinstance(exc, TransientFeedError) else None
        delay = self._backoff.next(retry_after)
        if isinstance(exc, FatalFeedError):
            # Retrying cannot fix it, but giving up would silence the exchange for good.
            delay = self._backoff.cap
        self.status.retrying(self._clock() + delay)
        if not self._offline_hinted and _unresolved(exc):
            self._offline_hinted = True
            self._log.warning(
                "exchange_host_not_found",
                hint="no DNS answer for the exchange's host: without internet, `make demo` "
                "(or `arbot demo`) runs the daemon against a built-in local market",
            )
        self._log.warning(
            "feed_error",
            where=where,
            error=str(exc),
            cause=error_chain(exc),
            retry_in=round(delay, 3),
            retry_after=retry_after,
        )
        await asyncio.sleep(delay)

    async def _down(self, exc: TransientFeedError | FatalFeedError, where: str) -> None:
        self._count_error(exc)
        self._metrics.reconnects.labels(self.name).inc()
        self._metrics.feed_up.labels(self.name).set(0)
        if self._sequence is not None:
            self._sequence.reset()
        if self._down_since is None and self._last_received is not None:
            self._down_since = self._clock()
            self._down_reason = f"{where} {_kind(exc)}"
            self._log.warning(
                "feed_down", reason=self._down_reason, error=str(exc), cause=error_chain(exc)
            )
            await self._put(FeedDown(self.name, self._down_since, self._down_reason))

    def _count_error(self, exc: TransientFeedError | FatalFeedError) -> None:
        self._metrics.feed_errors.labels(self.name, _kind(exc)).inc()
        self.status.failed(self._clock(), _kind(exc), str(exc))

    async def _emit(self, quotes: list[Received], dedupe: bool = False) -> None:
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
                self._metrics.latency.labels(self.name).observe(received - tick.timestamp)
            await self._resume(received)
            self._received.inc()
            await self._put(tick)
        if valid and self._last_received is not None:
            self._metrics.last_tick.labels(self.name).set(self._last_received)
        self.status.answered(self._clock())  # the puts may have waited on a full queue
        await self._check_rejecting(valid, received)

    async def _check_rejecting(self, valid: int, received: float) -> None:
        """Answers that keep coming but carry no valid quote (an HTML maintenance page, a
        changed format) for watch_timeout mean the feed is down, as silence would."""
        if valid:
            self._rejecting_since = None
            return
        if self._rejecting_since is None:
            self._rejecting_since = received
            return
        timeout = self.cfg.watch_timeout
        if received - self._rejecting_since < timeout or self._down_since is not None:
            return
        exc = TransientFeedError(
            f"every answer rejected as malformed for {timeout:g} s", kind="malformed"
        )
        if self._last_received is not None:
            await self._down(exc, "data")
        else:  # never up: nothing to record a gap from, but say it once
            self._count_error(exc)
            self._down_since = received
            self._log.warning("feed_down", reason="data malformed", error=str(exc))

    async def _check_sequence(self, symbol: str, raw: dict[str, Any], received: float) -> None:
        assert self._sequence is not None
        gap = self._sequence.check(symbol, raw, received)
        if gap is not None:
            reason, since = gap
            self._sequence_gaps.inc()
            self._log.warning("sequence_gap", reason=reason)
            await self._put(FeedGap(self.name, since, received, reason))

    async def _report_dropped(self, client: ExchangeClient) -> None:
        """Quotes the capture buffer dropped while the queue was full: counted, and the
        span they covered recorded as a feed gap."""
        count, first, last = client.take_dropped()
        if count:
            self._dropped.inc(count)
            reason = f"capture buffer full: {count} quotes dropped"
            self._log.warning("quotes_dropped", count=count)
            await self._put(FeedGap(self.name, first, last, reason))

    async def _resume(self, received: float) -> None:
        if self._last_received is None:
            self._down_since = None  # set when a never-up feed only sent garbage
            self._metrics.feed_up.labels(self.name).set(1)
            self._log.info("feed_up")
        elif self._down_since is not None:
            start = self._last_received
            self._log.info(
                "feed_resumed", gap_seconds=round(received - start, 3), reason=self._down_reason
            )
            await self._put(FeedGap(self.name, start, received, self._down_reason))
            self._down_since = None
            self._metrics.feed_up.labels(self.name).set(1)
        self._last_received = received

    def _count_absent(self, raws: list[dict[str, Any]]) -> None:
        """A REST answer without a quote we asked for (an HTML page, an empty result)
        counts as a malformed tick for each missing symbol."""
        present = {raw.get("symbol") for raw in raws}
        for symbol in self._symbols.difference(present):
            self._rejected["malformed"].inc()
            self._log.debug("tick_rejected", reason="malformed", symbol=symbol)

    def _seconds_since_tick(self) -> float:
        """From start-up for a feed that never delivered."""
        return max(0.0, self._clock() - (self._last_received or self._started))


def _kind(exc: Exception) -> str:
    return exc.kind if isinstance(exc, TransientFeedError) else "fatal"


def _unresolved(exc: BaseException) -> bool:
    """Whether a DNS lookup failed under `exc` (aiohttp's ClientConnectorDNSError, the
    resolver's gaierror): no internet, or a wrong host name."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if type(seen).__name__ in ("ClientConnectorDNSError", "gaierror"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
