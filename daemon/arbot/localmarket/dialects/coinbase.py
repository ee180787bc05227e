"""Coinbase Exchange REST (the REST-only venue): /products, /currencies,
/products/<id>/ticker, /products/<id>/book, /time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from arbot.localmarket.dialect import Dialect, JsonBody, Venue, WsConn
from arbot.localmarket.quotes import Quote


def _num(x: float | None) -> str | None:
    return None if x is None else f"{x:.8f}"


def _iso(ts: float | None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CoinbaseExchange(Dialect):
    kind = "coinbaseexchange"

    def __init__(self, server: Venue) -> None:
        super().__init__(server)
        self._ids = {self.market_id(s): s for s in server.symbols}

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "-")

    def routes(self) -> list[tuple[str, JsonBody]]:
        return [
            ("/products", self.products),
            ("/currencies", self.currencies),
            ("/time", lambda r: {"iso": _iso(None), "epoch": time.time()}),
            ("/products/{id}/ticker", self.ticker),
            ("/products/{id}/book", self.book),
        ]

    def error_body(self, status: int) -> Any:
        return {"message": "Too many requests" if status == 429 else f"status {status}"}

    def products(self, request: web.Request) -> Any:
        rows = []
        for market_id, symbol in self._ids.items():
            base, quote = symbol.split("/")
            rows.append(
                {
                    "id": market_id,
                    "base_currency": base,
                    "quote_currency": quote,
                    "quote_increment": "0.01",
                    "base_increment": "0.00000001",
                    "display_name": f"{base}-{quote}",
                    "min_market_funds": "1",
                    "margin_enabled": False,
                    "post_only": False,
                    "limit_only": False,
                    "cancel_only": False,
                    "status": "online",
                    "status_message": "",
                    "trading_disabled": False,
                    "fx_stablecoin": False,
                    "max_slippage_percentage": "0.02",
                    "auction_mode": False,
                }
            )
        return rows

    def currencies(self, request: web.Request) -> Any:
        codes = dict.fromkeys(c for s in self.server.symbols for c in s.split("/"))
        return [
            {
                "id": c,
                "name": c,
                "min_size": "0.00000001",
                "status": "online",
                "message": "",
                "max_precision": "0.00000001",
                "convertible_to": [],
                "details": {"type": "crypto"},
            }
            for c in codes
        ]

    def _quote(self, request: web.Request) -> Quote | None:
        symbol = self._ids.get(request.match_info["id"])
        if symbol is None:
            raise LookupError("NotFound")
        return self.server.quote_for_rest(symbol)

    def ticker(self, request: web.Request) -> Any:
        q = self._quote(request)
        if q is None:
            return {}
        return {
            "ask": _num(q.ask),
            "bid": _num(q.bid),
            "volume": "100.0",
            "trade_id": self.server.seq,
            "price": _num(q.bid),
            "size": "0.001",
            "time": _iso(q.ts),
        }

    def book(self, request: web.Request) -> Any:
        q = self._quote(request)
        if q is None:
            return {"bids": [], "asks": [], "sequence": 0}
        return {
            "bids": [[_num(q.bid), _num(q.bid_size), 1]],
            "asks": [[_num(q.ask), _num(q.ask_size), 1]],
            "sequence": self.server.seq,
        }

    def frames(self, conn: WsConn, q: Quote) -> list[Any]:
        return []
