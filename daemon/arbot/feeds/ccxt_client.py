"""The only module that imports ccxt: builds an instance from ExchangeSettings, picks the
best bid/ask channel the exchange offers, captures every quote ccxt parses, and translates
ccxt's errors into ours."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from arbot.errors import ExchangeSetupError, FatalFeedError, TransientFeedError
from arbot.feeds.urls import rewrite_urls
from arbot.settings import ExchangeSettings

# A quote as ccxt parsed it (unified ticker dict) with the time it arrived.
Received = tuple[dict[str, Any], float]
# Quotes captured but not yet taken by the feed (it waits while the tick queue is full).
# Beyond this the oldest are dropped and counted: a stalled database must not grow memory
# (a ccxt ticker dict takes ~1.5 KB: ~15 MB per exchange at most).
CAPTURE_LIMIT = 10_000

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


class _Capture:
    """Takes every quote ccxt parses for our watch call, as it arrives.

    ccxt.pro resolves a future per message hash and keeps only the latest quote per symbol
    until the next watch_* call: between two calls, quotes are overwritten. But every
    ccxt.pro exchange hands each parsed quote to `Client.resolve(result, message_hash)`
    from its message handler, whether or not a watch is waiting. So the watch methods' own
    message hashes are recorded (from `Exchange.watch` / `watch_multiple`, which every
    ccxt.pro watch method goes through) and each client's `resolve` is wrapped to copy the
    quotes resolved under those hashes into a buffer, in arrival order. Parsing stays
    ccxt's; nothing here knows an exchange's wire format. A client's broadcast `reject`
    (connection lost) is queued after the quotes that arrived before it. `arrived` is set
    while anything is queued."""

    def __init__(self, ex: Any, clock: Callable[[], float]) -> None:
        self.items: deque[Received | BaseException] = deque()
        self.arrived = asyncio.Event()
        self.dropped = 0  # quotes dropped at CAPTURE_LIMIT, not yet reported
        self.dropped_span = (0.0, 0.0)  # arrival times of the first and last dropped
        self._clock = clock
        self._hashes: set[str] = set()
        self._last: dict[Any, dict[str, Any]] = {}
        watch, watch_multiple, client = ex.watch, ex.watch_multiple, ex.client

        def watch_hook(url: str, message_hash: str, *args: Any, **kwargs: Any) -> Any:
            self._hashes.add(message_hash)
            return watch(url, message_hash, *args, **kwargs)

        def watch_multiple_hook(url: str, hashes: list[str], *args: Any, **kwargs: Any) -> Any:
            self._hashes.update(hashes)
            return watch_multiple(url, hashes, *args, **kwargs)

        def client_hook(url: str) -> Any:
            c = client(url)
            if getattr(c, "arbot_capture", None) is None:
                self._hook(c)
            return c

        ex.watch, ex.watch_multiple, ex.client = watch_hook, watch_multiple_hook, client_hook

    def _hook(self, c: Any) -> None:
        resolve, reject = c.resolve, c.reject
        hashes = self._hashes

        def resolve_hook(result: Any, message_hash: Any) -> Any:
            if message_hash in hashes:
                self._add(result)
            return resolve(result, message_hash)

        def reject_hook(result: Any, message_hash: Any = None) -> Any:
            if message_hash is None and c.arbot_capture and isinstance(result, Exception):
                # The first broadcast ends the connection; ccxt may repeat it while closing.
                c.arbot_capture = False
                self.items.append(result)
                self.arrived.set()
            return reject(result, message_hash)

        c.resolve, c.reject, c.arbot_capture = resolve_hook, reject_hook, True

    def _add(self, result: Any) -> None:
        if not isinstance(result, dict):
            return
        # One ticker, or {symbol: ticker} (e.g. OKX's tickers channel).
        tickers = [result] if "bid" in result else list(result.values())
        received = self._clock()
        for ticker in tickers:
            if not isinstance(ticker, dict) or "bid" not in ticker:
                continue
            symbol = ticker.get("symbol")
            # An exchange that resolves with its whole ticker cache repeats unchanged
            # tickers (the same objects): each is handed over once.
            if self._last.get(symbol) is ticker:
                continue
            self._last[symbol] = ticker
            if len(self.items) >= CAPTURE_LIMIT:
                self._drop_oldest()
            self.items.append((ticker, received))
            self.arrived.set()

    def _drop_oldest(self) -> None:
        old = self.items.popleft()
        if isinstance(old, BaseException):
            return
        at = old[1]
        self.dropped_span = (self.dropped_span[0] if self.dropped else at, at)
        self.dropped += 1

    def take(self) -> list[Received]:
        """The quotes captured so far, up to the first queued error, which is raised when
        it comes first."""
        items = self.items
        if items and isinstance(first := items[0], BaseException):
            items.popleft()
            if not items:
                self.arrived.clear()
            raise first
        out: list[Received] = []
        while items and not isinstance(items[0], BaseException):
            out.append(items.popleft())  # type: ignore[arg-type]
        if not items:
            self.arrived.clear()
        return out

    def forget(self, error: BaseException | None) -> None:
        """`error` was raised by the watch call itself: do not raise it a second time."""
        if error is not None and any(item is error for item in self.items):
            self.items = deque(item for item in self.items if item is not error)

    def detach(self, clients: Any) -> None:
        """Connections we close ourselves: their close is not an error to report."""
        for c in clients:
            c.arbot_capture = False


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
        self._capture = _Capture(self._ex, clock) if capture and self.can_watch else None
        # Whether a watch call has subscribed on the current connection: from then on the
        # capture receives every quote and watch() only waits for it (a watch_* call costs
        # ~0.3 ms with 20 symbols; one per quote would double the feed's CPU).
        self._subscribed = False

    @property
    def can_watch(self) -> bool:
        return self.watch_method is not None

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
            return self._take(cap)
        timeout = self.cfg.watch_timeout
        method = getattr(self._ex, self.watch_method)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that
            # arrives as the update does, and the feed would then never stop.
            async with asyncio.timeout(timeout):
                if cap is not None and self._subscribed:
                    await cap.arrived.wait()
                    return self._take(cap)
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
        return self._take(cap)

    def _take(self, cap: _Capture) -> list[Received]:
        try:
            return cap.take()
        except Exception as exc:
            self._subscribed = False
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
        closer = getattr(self._ex, "close_ws_clients", None)
        if closer is not None:
            if self._capture is not None:
                self._capture.detach((self._ex.clients or {}).values())
            await closer()

    async def close(self) -> None:
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
