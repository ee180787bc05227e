"""The only module that imports ccxt: builds an instance from ExchangeSettings, picks the
best bid/ask channel the exchange offers, hands every quote ccxt parses over through the
capture (feeds/capture.py), and translates ccxt's errors into ours."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from arbot.errors import ExchangeSetupError, FatalFeedError, TransientFeedError
from arbot.feeds.capture import BookError, Capture, Received
from arbot.feeds.urls import rewrite_urls
from arbot.settings import ExchangeSettings

# Venues whose book stream takes one of a few depths (ccxt raises NotSupported otherwise):
# the smallest at least `depth` is asked for. Elsewhere no limit is passed and ccxt keeps
# the venue's full book: Binance's diffs cover every level, and a book ccxt trims to a
# limit misses the levels that move up into view.
_BOOK_DEPTHS = {"kraken": (10, 25, 100, 500, 1000)}

# Exchanges whose fetchTickers carries no bid/ask (coinbaseexchange answers from
# /products/spark-lines): poll them one fetch_ticker per symbol instead.
_TICKERS_WITHOUT_BIDASK = frozenset({"coinbaseexchange"})


def known_exchange_ids() -> frozenset[str]:
    import ccxt

    return frozenset(ccxt.exchanges)


def check_exchanges(exchanges: Sequence[ExchangeSettings]) -> None:
    """Raise ExchangeSetupError naming every configured exchange id ccxt does not know."""
    known = known_exchange_ids()
    unknown = [f"{ex.name!r} (id {ex.id!r})" for ex in exchanges if ex.id not in known]
    if unknown:
        raise ExchangeSetupError(
            f"unknown ccxt exchange id for exchange {', '.join(unknown)}; "
            "see https://docs.ccxt.com for the list of ids"
        )


def _instance(cfg: ExchangeSettings) -> Any:
    import ccxt.async_support
    import ccxt.pro

    check_exchanges([cfg])
    # Exchanges without websocket support exist only in async_support: they poll REST.
    cls = getattr(ccxt.pro, cfg.id, None) or getattr(ccxt.async_support, cfg.id)
    ex = cls({**cfg.ccxt_config, "options": dict(cfg.ccxt_options)})
    if cfg.sandbox:
        try:
            if not ex.urls.get("test"):  # some ids carry test=None, which ccxt trips over
                raise ccxt.NotSupported(cfg.id)
            ex.set_sandbox_mode(True)
        except ccxt.NotSupported:
            raise ExchangeSetupError(
                f"exchange {cfg.name!r} (id {cfg.id!r}): sandbox = true but ccxt has no "
                "sandbox URLs for it"
            ) from None
    if cfg.url_override:
        ex.urls["api"] = rewrite_urls(ex.urls["api"], cfg.url_override)
    return ex


class ExchangeClient:
    """One ccxt instance for one configured exchange. Every call returns unified ticker
    dicts with their arrival times, or raises TransientFeedError / FatalFeedError /
    ExchangeSetupError. With `capture` (the default) watch() returns every quote that
    arrived since the last call; without it, what ccxt's watch_* returns (the latest quote
    per symbol: kept selectable for `python -m bench capture`)."""

    def __init__(
        self, cfg: ExchangeSettings, clock: Callable[[], float] = time.time, capture: bool = True
    ) -> None:
        self.cfg = cfg
        self._clock = clock
        self._ex = _instance(cfg)
        has = self._ex.has
        self.watch_method = (
            "watch_bids_asks"
            if has.get("watchBidsAsks")
            else "watch_tickers"
            if has.get("watchTickers")
            else None
        )
        if has.get("fetchBidsAsks"):
            self.fetch_method = "fetch_bids_asks"
        elif has.get("fetchTickers") and cfg.id not in _TICKERS_WITHOUT_BIDASK:
            self.fetch_method = "fetch_tickers"
        else:
            self.fetch_method = "fetch_ticker"
        self.depth = cfg.depth
        self.book_method = "watch_order_book" if has.get("watchOrderBook") else None
        watching = self.book_method if self.depth else self.watch_method
        self._capture = (
            Capture(self._ex, clock, self.depth, cfg.symbols)
            if capture and watching is not None
            else None
        )
        # depth > 0: symbols whose book needs a watch call (first, after a resync or a
        # reconnect); the calls run as tasks, their books arrive through the capture.
        self._unwatched = set(cfg.symbols)
        self._book_calls: set[asyncio.Task[None]] = set()
        # Whether a watch call has subscribed on the current connection: from then on the
        # capture receives every quote and watch() only waits for it (a watch_* call costs
        # ~0.3 ms with 20 symbols; one per quote would double the feed's CPU).
        self._subscribed = False

    @property
    def can_watch(self) -> bool:
        return (self.book_method if self.depth else self.watch_method) is not None

    async def load_markets(self) -> None:
        """Load markets; ExchangeSetupError if a configured symbol is not listed."""
        await self._call(self._ex.load_markets())
        markets = self._ex.markets or {}
        missing = [s for s in self.cfg.symbols if s not in markets]
        if missing:
            raise ExchangeSetupError(
                f"exchange {self.cfg.name!r} (id {self.cfg.id!r}) does not list symbol(s) "
                f"{', '.join(missing)}"
            )

    async def watch(self) -> list[Received]:
        """The quotes that arrived since the last call, waiting for one if there are none.
        Silence for `watch_timeout` seconds means a dead connection: the websockets are
        closed so the next call reconnects."""
        assert self.watch_method is not None
        cap = self._capture
        if cap is not None and cap.items:
            return self._quotes(cap)
        timeout = self.cfg.watch_timeout
        method = getattr(self._ex, self.watch_method)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that
            # arrives as the update does, and the feed would then never stop.
            async with asyncio.timeout(timeout):
                if cap is not None and self._subscribed:
                    await cap.arrived.wait()
                    return self._quotes(cap)
                result = await self._call(method(list(self.cfg.symbols), {}))
        except TimeoutError:
            await self.close_websockets()
            raise TransientFeedError(
                f"no websocket data for {timeout:g} s", kind="timeout"
            ) from None
        except TransientFeedError as exc:
            if cap is not None:
                cap.forget(exc.__cause__)
            await self.close_websockets()
            raise
        if cap is None:
            received = self._clock()
            return [(raw, received) for raw in _tickers(result)]
        # The result is the latest quote per symbol; every quote before it is captured.
        self._subscribed = True
        return self._quotes(cap)

    def _quotes(self, cap: Capture) -> list[Received]:
        # Without depth the capture queues no BookError.
        return cast("list[Received]", self._take(cap))

    async def watch_books(self) -> list[Received | BookError]:
        """depth > 0: the book changes (and ccxt's book errors, BookError: resubscribe
        with `rewatch`) since the last call, waiting for one; silence for watch_timeout
        closes the websockets, as watch() does."""
        cap = self._capture
        assert cap is not None and self.book_method is not None
        for symbol in self._unwatched:
            call = asyncio.create_task(self._watch_book(cap, symbol), name=f"book-{symbol}")
            self._book_calls.add(call)
            call.add_done_callback(self._book_calls.discard)
        self._unwatched.clear()
        timeout = self.cfg.watch_timeout
        try:
            async with asyncio.timeout(timeout):
                await cap.arrived.wait()
        except TimeoutError:
            await self.close_websockets()
            raise TransientFeedError(
                f"no websocket data for {timeout:g} s", kind="timeout"
            ) from None
        return self._take(cap)

    def rewatch(self, symbol: str) -> None:
        """The next watch_books() call watches `symbol`'s book again (ccxt resyncs it)."""
        self._unwatched.add(symbol)

    async def _watch_book(self, cap: Capture, symbol: str) -> None:
        # The call's own result is a book the capture took already; its failure (a refused
        # connection before any book) is the feed's to report.
        depths = _BOOK_DEPTHS.get(self.cfg.id)
        limit = next((d for d in depths if d >= self.depth), depths[-1]) if depths else None
        try:
            await getattr(self._ex, self.book_method or "")(symbol, limit)
        except Exception as exc:
            cap.queue_error(exc)

    async def fetch_books(self) -> list[dict[str, Any]]:
        """depth > 0, REST: each symbol's book, its best `depth` levels."""
        timeout = self.cfg.watch_timeout
        try:
            async with asyncio.timeout(timeout):
                books = [
                    await self._call(self._ex.fetch_order_book(s, self.depth))
                    for s in self.cfg.symbols
                ]
        except TimeoutError:
            raise TransientFeedError(f"no REST answer in {timeout:g} s", kind="timeout") from None
        return [_top(book, self.depth) for book in books]

    def _take(self, cap: Capture) -> list[Received | BookError]:
        try:
            return cap.take()
        except Exception as exc:
            self._subscribed = False
            self._unwatched.update(self.cfg.symbols)
            cap.detach((self._ex.clients or {}).values())
            translated = self._translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    def take_dropped(self) -> tuple[int, float, float]:
        """(quotes dropped at the capture limit since the last call, first and last of
        their arrival times)."""
        cap = self._capture
        if cap is None or not cap.dropped:
            return 0, 0.0, 0.0
        count, (first, last) = cap.dropped, cap.dropped_span
        cap.dropped = 0
        return count, first, last

    async def fetch(self) -> list[dict[str, Any]]:
        symbols = list(self.cfg.symbols)
        timeout = self.cfg.watch_timeout
        try:
            async with asyncio.timeout(timeout):
                if self.fetch_method == "fetch_ticker":
                    return [await self._call(self._ex.fetch_ticker(s)) for s in symbols]
                method = getattr(self._ex, self.fetch_method)
                return _tickers(await self._call(method(symbols)))
        except TimeoutError:
            raise TransientFeedError(f"no REST answer in {timeout:g} s", kind="timeout") from None

    async def close_websockets(self) -> None:
        self._subscribed = False
        self._unwatched.update(self.cfg.symbols)
        closer = getattr(self._ex, "close_ws_clients", None)
        if closer is not None:
            if self._capture is not None:
                self._capture.detach((self._ex.clients or {}).values())
            await closer()

    async def close(self) -> None:
        for call in list(self._book_calls):
            call.cancel()
        await self._ex.close()

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        self._ex.last_response_headers = None
        try:
            return await awaitable
        except Exception as exc:
            translated = self._translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    def _translate(self, exc: Exception) -> Exception:
        """Our error for anything ccxt, aiohttp or the OS raised (or rejected a watch with):
        a feed outage unless it is already ours."""
        import ccxt

        if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.NotSupported):
            return FatalFeedError(f"{self.cfg.name}: {exc}")
        if isinstance(exc, ccxt.BaseError):
            return TransientFeedError(
                f"{type(exc).__name__}: {_short(exc)}", self._retry_after(), _kind(exc)
            )
        message = f"{type(exc).__name__}: {_short(exc)}"
        if isinstance(exc, ValueError | TypeError | KeyError | IndexError | AttributeError):
            # ccxt's parsers choke on garbage (malformed JSON, wrong shapes): a bad answer,
            # not a bug of ours, and the next one may be fine.
            return TransientFeedError(message, kind="malformed")
        if isinstance(exc, ExchangeSetupError | TransientFeedError | FatalFeedError):
            return exc
        # aiohttp and the OS raise past ccxt's mapping (e.g. ClientConnectionResetError from
        # the websocket ping loop under load): whatever it is, it ends this connection only.
        return TransientFeedError(message, kind="network")

    def _retry_after(self) -> float | None:
        """Retry-After of the last HTTP answer, or the wait ccxt imposes before the next
        websocket dial (which includes a handshake's Retry-After)."""
        headers = self._ex.last_response_headers or {}
        for key, value in headers.items():
            if key.lower() == "retry-after":
                try:
                    return float(value)
                except ValueError:
                    return None
        delays = [
            self._ex.ws_dial_delay(url) for url in getattr(self._ex, "ws_dial_backoff", None) or {}
        ]
        return max(delays) if delays and max(delays) > 0 else None


def _kind(exc: Exception) -> str:
    import ccxt

    # 429 and 418; RateLimitExceeded is not a DDoSProtection subclass in ccxt 4.5.
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return "rate_limit"
    if isinstance(exc, ccxt.RequestTimeout):
        return "timeout"
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return "unavailable"
    if isinstance(exc, ccxt.NetworkError):
        return "network"
    if isinstance(exc, ccxt.BadResponse | ccxt.NullResponse):
        return "malformed"
    return "exchange"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def _tickers(result: Any) -> list[dict[str, Any]]:
    """ccxt returns {symbol: ticker} (or, for some watch paths, one bare ticker)."""
    if not isinstance(result, dict):
        return list(result) if isinstance(result, list) else []
    if "symbol" in result and "bid" in result:
        return [result]
    return list(result.values())


def _top(book: dict[str, Any], depth: int) -> dict[str, Any]:
    """A fetched book as the capture hands one over: its best `depth` levels."""
    return {
        "symbol": book.get("symbol"),
        "bids": tuple((level[0], level[1]) for level in book.get("bids", [])[:depth]),
        "asks": tuple((level[0], level[1]) for level in book.get("asks", [])[:depth]),
        "timestamp": book.get("timestamp"),
        "nonce": book.get("nonce"),
    }
