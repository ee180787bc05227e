"""The only module that imports ccxt: builds an instance from ExchangeSettings, picks the
best bid/ask channel the exchange offers, and translates ccxt's errors into ours."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from arbot.errors import ExchangeSetupError, FatalFeedError, TransientFeedError
from arbot.feeds.urls import rewrite_urls
from arbot.settings import ExchangeSettings

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
    dicts or raises TransientFeedError / FatalFeedError / ExchangeSetupError."""

    def __init__(self, cfg: ExchangeSettings) -> None:
        self.cfg = cfg
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

    async def watch(self) -> list[dict[str, Any]]:
        """Wait for the next bid/ask update(s). Silence for `watch_timeout` seconds means a
        dead connection: the websockets are closed so the next call reconnects."""
        assert self.watch_method is not None
        timeout = self.cfg.watch_timeout
        method = getattr(self._ex, self.watch_method)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that
            # arrives as the update does, and the feed would then never stop.
            async with asyncio.timeout(timeout):
                result = await self._call(method(list(self.cfg.symbols), {}))
        except TimeoutError:
            await self.close_websockets()
            raise TransientFeedError(
                f"no websocket data for {timeout:g} s", kind="timeout"
            ) from None
        except TransientFeedError:
            await self.close_websockets()
            raise
        return _tickers(result)

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
        closer = getattr(self._ex, "close_ws_clients", None)
        if closer is not None:
            await closer()

    async def close(self) -> None:
        await self._ex.close()

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        import ccxt

        self._ex.last_response_headers = None
        try:
            return await awaitable
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.NotSupported) as exc:
            raise FatalFeedError(f"{self.cfg.name}: {exc}") from exc
        except ccxt.BaseError as exc:
            raise TransientFeedError(
                f"{type(exc).__name__}: {_short(exc)}", self._retry_after(), _kind(exc)
            ) from exc
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # ccxt's parsers choke on garbage (malformed JSON, wrong shapes): a bad answer,
            # not a bug of ours, and the next one may be fine.
            message = f"{type(exc).__name__}: {_short(exc)}"
            raise TransientFeedError(message, kind="malformed") from exc

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
