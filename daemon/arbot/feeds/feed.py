"""One exchange's feed: websockets or REST polling, reconnecting forever, emitting validated
ticks plus FeedDown / FeedGap around outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from arbot.errors import ExchangeSetupError, FatalFeedError, TransientFeedError
from arbot.feeds.backoff import Backoff
from arbot.feeds.capture import BookError, Received
from arbot.feeds.ccxt_client import ExchangeClient
from arbot.feeds.emit import Emitter
from arbot.feeds.outage import Outage, Put
from arbot.feeds.sequence import SequenceCheck
from arbot.feeds.status import FeedStatus
from arbot.logs import error_chain, get_logger
from arbot.metrics import Metrics
from arbot.settings import ExchangeSettings

_T = TypeVar("_T")


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
    """One exchange's connection: the markets, then websockets, REST polling or order books
    as the settings and the venue allow; its quotes go through the emitter (emit.py), its
    failures through the outage (outage.py)."""

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
        self.name = cfg.name
        self._capture = capture
        self._clock = clock
        self._log = get_logger(exchange=cfg.name)
        self._metrics = metrics
        self._restarts = metrics.feed_restarts.labels(self.name)
        metrics.init_exchange(self.name)
        sequence = SequenceCheck.for_exchange(cfg.id)
        self._outage = Outage(
            cfg,
            put,
            metrics,
            clock,
            self._log,
            last_tick=last_tick,
            status=status,
            sequence=sequence,
        )
        self._emitter = Emitter(
            self.name,
            frozenset(cfg.symbols),
            put,
            metrics,
            clock=clock,
            log=self._log,
            outage=self._outage,
            sequence=sequence,
        )
        base = min(1.0, cfg.poll_interval)  # as the outage's backoff
        self._ws_probe = Backoff(5 * base, 60 * base)

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
                await self._outage.failed(crash, "feed")

    async def run(self) -> None:
        client = ExchangeClient(self.cfg, self._clock, capture=self._capture)
        try:
            await self._load_markets(client)
            if self.cfg.depth:
                if self.cfg.mode == "rest" or not client.can_watch:
                    await self._follow_books(client, rest=True)
                elif self.cfg.mode == "ws":
                    await self._follow_books(client, rest=False)
                else:
                    while True:
                        await self._follow_books(client, rest=False, fall_back=True)
                        await self._poll_books_until_ws_returns(client)
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
                await self._outage.failed(exc, "load_markets")
                continue
            self._outage.backoff.reset()
            self._outage.status.answered(self._clock())
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
                    await self._outage.down(exc, "ws")
                    self._log.warning(
                        "ws_failed_polling_rest", error=str(exc), cause=error_chain(exc)
                    )
                    return
                await self._outage.failed(exc, "ws")
                continue
            await self._emitter.emit(raws)
            await self._emitter.report_dropped(client)
            self._outage.backoff.reset()

    async def _follow_books(
        self, client: ExchangeClient, *, rest: bool, fall_back: bool = False
    ) -> None:
        """depth > 0: each symbol's order book over websockets or polled over REST, its
        quotes taken from the book's top; return on the first websocket failure when
        `fall_back` (auto mode)."""
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
                # Whatever comes next (a resubscription, a REST snapshot) does not follow
                # from the books before it.
                self._emitter.books_lost()
                if fall_back:
                    await self._outage.down(exc, "ws")
                    self._log.warning(
                        "ws_failed_polling_rest", error=str(exc), cause=error_chain(exc)
                    )
                    return
                await self._outage.failed(exc, "rest" if rest else "ws")
                continue
            await self._deliver_books(client, items)
            if rest:
                await asyncio.sleep(max(0.0, self.cfg.poll_interval - (loop.time() - started)))

    async def _deliver_books(
        self, client: ExchangeClient, items: list[Received | BookError]
    ) -> None:
        for item in items:
            if isinstance(item, BookError):
                self._emitter.book_dropped(client, item)
            else:
                await self._emitter.emit_book(*item)
        self._outage.status.answered(self._clock())
        await self._emitter.report_dropped(client)
        self._outage.backoff.reset()

    async def _poll_books_until_ws_returns(self, client: ExchangeClient) -> None:
        """Poll books over REST while probing the book stream now and then; switch back on
        its first data."""
        async with asyncio.TaskGroup() as tasks:
            poller = tasks.create_task(self._follow_books(client, rest=True))
            items = await self._probe_ws(client.watch_books)
            poller.cancel()
        self._ws_probe.reset()
        self._log.info("ws_restored")
        await self._deliver_books(client, items)

    async def _poll_forever(self, client: ExchangeClient) -> None:
        self._metrics.feed_mode.labels(self.name).set(0)
        self._log.info("feed_connecting", mode="rest", interval=self.cfg.poll_interval)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                raws = await client.fetch()
            except (TransientFeedError, FatalFeedError) as exc:
                await self._outage.failed(exc, "rest")
                continue
            received = self._clock()
            self._emitter.count_absent(raws)
            await self._emitter.emit([(raw, received) for raw in raws], dedupe=True)
            self._outage.backoff.reset()
            await asyncio.sleep(max(0.0, self.cfg.poll_interval - (loop.time() - started)))

    async def _poll_until_ws_returns(self, client: ExchangeClient) -> None:
        """Poll REST while probing the websocket now and then; switch back on its first data."""
        async with asyncio.TaskGroup() as tasks:
            poller = tasks.create_task(self._poll_forever(client))
            raws = await self._probe_ws(client.watch)
            poller.cancel()
        self._ws_probe.reset()
        self._metrics.feed_mode.labels(self.name).set(1)
        self._log.info("ws_restored")
        await self._emitter.emit(raws)

    async def _probe_ws(self, watch: Callable[[], Awaitable[_T]]) -> _T:
        retry_after: float | None = None
        while True:
            await asyncio.sleep(self._ws_probe.next(retry_after))
            try:
                raws = await watch()
            except (TransientFeedError, FatalFeedError) as exc:
                self._outage.count_error(exc)
                retry_after = exc.retry_after if isinstance(exc, TransientFeedError) else None
                self._log.info(
                    "ws_probe_failed",
                    error=str(exc),
                    cause=error_chain(exc),
                    retry_after=retry_after,
                )
                continue
            return raws
