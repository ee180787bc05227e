"""Wire formats of the fake exchanges, one module per exchange."""

from __future__ import annotations

from arbot.localmarket.dialect import Dialect, Venue

KINDS = ("binance", "okx", "kraken", "coinbaseexchange")
# "rest" names the REST-only venue (coinbaseexchange has no websocket in ccxt.pro here).
ALIASES = {"rest": "coinbaseexchange", "coinbase": "coinbaseexchange"}


def dialect_for(kind: str, server: Venue, event_time: bool = False) -> Dialect:
    kind = ALIASES.get(kind, kind)
    if kind == "binance":
        from arbot.localmarket.dialects.binance import Binance

        return Binance(server, event_time=event_time)
    if kind == "okx":
        from arbot.localmarket.dialects.okx import Okx

        return Okx(server)
    if kind == "kraken":
        from arbot.localmarket.dialects.kraken import Kraken

        return Kraken(server)
    if kind == "coinbaseexchange":
        from arbot.localmarket.dialects.coinbase import CoinbaseExchange

        return CoinbaseExchange(server)
    raise ValueError(f"unknown fake exchange kind {kind!r}; known: {', '.join(KINDS)}, rest")
