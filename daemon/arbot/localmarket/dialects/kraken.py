"""Kraken: REST /0/public/* wrapped in {"error":[],"result":...}, websocket v2 (/v2) with
the `ticker` channel (ccxt's watchBidsAsks subscribes with event_trigger "bbo") and the
`book` channel (a snapshot of the subscribed depth, then updates, each with Kraken's crc32
`checksum` of the best 10 levels; no sequence numbers), as ccxt.pro's kraken (4.5) uses."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from arbot.localmarket.books import (
    SIZE_DECIMALS,
    Book,
    BookUpdate,
    Level,
    Snapshot,
    decimal,
    price_decimals,
)
from arbot.localmarket.dialect import BookSub, Dialect, JsonBody, Venue, WsConn
from arbot.localmarket.quotes import Quote

# Kraken's legacy asset ids; other assets keep their code.
_ASSET_IDS = {"BTC": "XXBT", "ETH": "XETH", "USD": "ZUSD", "EUR": "ZEUR", "XRP": "XXRP"}
_ALTNAMES = {"BTC": "XBT"}


def _num(x: float | None) -> str | None:
    return None if x is None else f"{x:.5f}"


BOOK_DEPTHS = (10, 25, 100, 500, 1000)
CHECKSUM_LEVELS = 10


def _iso_now() -> str:
    return _iso(time.time())


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _levels(levels: Sequence[Level], decimals: int) -> list[dict[str, float]]:
    """v2 sends prices and sizes as JSON numbers."""
    return [
        {"price": float(decimal(p, decimals)), "qty": float(decimal(s, SIZE_DECIMALS))}
        for p, s in levels
    ]


def checksum(snap: Snapshot) -> int:
    """Kraken's book checksum: crc32 of the best 10 asks then the best 10 bids, each price
    and size written to the pair's precision without the point and leading zeros, which for
    whole ticks and lots is their integer text."""
    levels = [*snap.asks[:CHECKSUM_LEVELS], *snap.bids[:CHECKSUM_LEVELS]]
    return zlib.crc32("".join(f"{p}{s}" for p, s in levels).encode())


class Kraken(Dialect):
    kind = "kraken"
    ws_paths = ("/v2",)
    stamps = False  # v2 ticker frames carry no event time ccxt reads
    checksums = True
    heartbeat = 1.0

    def __init__(self, server: Venue) -> None:
        super().__init__(server)
        self._pairs = {self.market_id(s): s for s in server.symbols}

    def market_id(self, symbol: str) -> str:
        base, quote = symbol.split("/")
        if base in _ASSET_IDS and quote in _ASSET_IDS:
            return _ASSET_IDS[base] + _ASSET_IDS[quote]
        return _ALTNAMES.get(base, base) + _ALTNAMES.get(quote, quote)

    def routes(self) -> list[tuple[str, JsonBody]]:
        return [
            ("/0/public/Assets", self.assets),
            ("/0/public/AssetPairs", self.asset_pairs),
            ("/0/public/Ticker", self.ticker),
            ("/0/public/Depth", self.depth),
            (
                "/0/public/Time",
                lambda r: self._ok(
                    {
                        "unixtime": int(time.time()),
                        "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime()),
                    }
                ),
            ),
        ]

    @staticmethod
    def _ok(result: Any) -> dict[str, Any]:
        return {"error": [], "result": result}

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": ["EAPI:Rate limit exceeded"]}
        return {"error": ["EService:Unavailable"]}

    def assets(self, request: web.Request) -> Any:
        codes = dict.fromkeys(c for s in self.server.symbols for c in s.split("/"))
        return self._ok(
            {
                _ASSET_IDS.get(c, c): {
                    "aclass": "currency",
                    "altname": _ALTNAMES.get(c, c),
                    "decimals": 10,
                    "display_decimals": 5,
                    "status": "enabled",
                }
                for c in codes
            }
        )

    def asset_pairs(self, request: web.Request) -> Any:
        result = {}
        for pair_id, symbol in self._pairs.items():
            base, quote = symbol.split("/")
            decimals = price_decimals(symbol)  # the books' tick: checksums depend on it
            alt = _ALTNAMES.get(base, base) + _ALTNAMES.get(quote, quote)
            result[pair_id] = {
                "altname": alt,
                "wsname": f"{_ALTNAMES.get(base, base)}/{quote}",
                "aclass_base": "currency",
                "base": _ASSET_IDS.get(base, base),
                "aclass_quote": "currency",
                "quote": _ASSET_IDS.get(quote, quote),
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": decimals,
                "lot_decimals": SIZE_DECIMALS,
                "lot_multiplier": 1,
                "leverage_buy": [],
                "leverage_sell": [],
                "fees": [[0, 0.26]],
                "fees_maker": [[0, 0.16]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": "0.0001",
                "costmin": "0.5",
                "tick_size": decimal(1, decimals),
                "status": "online",
            }
        return self._ok(result)

    def _requested(self, request: web.Request) -> list[str]:
        wanted = [p for p in request.query.get("pair", "").split(",") if p]
        unknown = [p for p in wanted if p not in self._pairs]
        if unknown:
            raise LookupError(f"EQuery:Unknown asset pair {unknown[0]}")
        return [self._pairs[p] for p in wanted or self._pairs]

    def ticker(self, request: web.Request) -> Any:
        result = {}
        for symbol in self._requested(request):
            q = self.server.quote_for_rest(symbol)
            if q is None:
                continue
            result[self.market_id(symbol)] = {
                "a": [_num(q.ask), "1", _num(q.ask_size)],
                "b": [_num(q.bid), "1", _num(q.bid_size)],
                "c": [_num(q.bid), "0.001"],
                "v": ["100.0", "200.0"],
                "p": [_num(q.bid)] * 2,
                "t": [100, 200],
                "l": [_num(q.bid)] * 2,
                "h": [_num(q.ask)] * 2,
                "o": _num(q.bid),
            }
        return self._ok(result)

    def depth(self, request: web.Request) -> Any:
        count = int(request.query.get("count", "100"))
        result = {}
        for symbol in self._requested(request):
            snap = self.server.book_for_rest(symbol)
            ts = int(snap.ts)
            result[self.market_id(symbol)] = {
                side: [
                    [decimal(p, snap.decimals, snap.decimals), decimal(s, SIZE_DECIMALS, 8), ts]
                    for p, s in levels[:count]
                ]
                for side, levels in (("asks", snap.asks), ("bids", snap.bids))
            }
        return self._ok(result)

    def on_open(self, conn: WsConn) -> list[Any]:
        return [
            {
                "channel": "status",
                "type": "update",
                "data": [
                    {
                        "version": "2.0.10",
                        "system": "online",
                        "api_version": "v2",
                        "connection_id": id(conn),
                    }
                ],
            }
        ]

    def on_message(self, conn: WsConn, text: str) -> list[Any]:
        try:
            msg = json.loads(text)
        except ValueError:
            return [{"error": "Malformed request", "method": "", "success": False}]
        method, req_id = msg.get("method"), msg.get("req_id")
        if method == "ping":
            return [
                {"method": "pong", "req_id": req_id, "time_in": _iso_now(), "time_out": _iso_now()}
            ]
        params = msg.get("params") or {}
        channel = params.get("channel")
        depth = params.get("depth", BOOK_DEPTHS[0])
        if method != "subscribe" or channel not in ("ticker", "book") or depth not in BOOK_DEPTHS:
            return [
                {
                    "error": f"Unsupported: {method}",
                    "method": method,
                    "req_id": req_id,
                    "success": False,
                    "time_in": _iso_now(),
                    "time_out": _iso_now(),
                }
            ]
        replies: list[Any] = []
        trigger = params.get("event_trigger", "trades")
        for symbol in params.get("symbol") or []:
            if symbol not in self.server.symbols:
                replies.append(
                    {
                        "error": f"Currency pair not supported {symbol}",
                        "method": "subscribe",
                        "req_id": req_id,
                        "success": False,
                        "symbol": symbol,
                        "time_in": _iso_now(),
                        "time_out": _iso_now(),
                    }
                )
                continue
            result: dict[str, Any] = {"channel": channel}
            if channel == "book":
                # A subscription (or a renewed one) gets its snapshot before any update.
                self.server.book(symbol)
                conn.book_subs[("book", symbol)] = BookSub("book", depth)
                result["depth"] = depth
            else:
                conn.subs.add(("ticker", symbol))
                result["event_trigger"] = trigger
            replies.append(
                {
                    "method": "subscribe",
                    "req_id": req_id,
                    "result": result | {"snapshot": True, "symbol": symbol},
                    "success": True,
                    "time_in": _iso_now(),
                    "time_out": _iso_now(),
                }
            )
        return replies

    def frames(self, conn: WsConn, q: Quote) -> list[Any]:
        if ("ticker", q.symbol) not in conn.subs:
            return []
        return [
            {
                "channel": "ticker",
                "type": "update",
                "data": [
                    {
                        "symbol": q.symbol,
                        "bid": q.bid,
                        "bid_qty": q.bid_size,
                        "ask": q.ask,
                        "ask_qty": q.ask_size,
                        "last": q.bid,
                        "volume": 100.0,
                        "vwap": q.bid,
                        "low": q.bid,
                        "high": q.ask,
                        "change": 0.0,
                        "change_pct": 0.0,
                        "trades": self.server.seq,
                        "timestamp": _iso_now(),
                    }
                ],
            }
        ]

    def book_snapshot(self, conn: WsConn, sub: BookSub, book: Book) -> list[Any]:
        snap = book.snapshot(sub.depth)
        data = {
            "symbol": book.symbol,
            "bids": _levels(snap.bids, snap.decimals),
            "asks": _levels(snap.asks, snap.decimals),
            "checksum": checksum(snap),
        }
        return [{"channel": "book", "type": "snapshot", "data": [data]}]

    def book_update(
        self,
        conn: WsConn,
        sub: BookSub,
        book: Book,
        update: BookUpdate,
        corrupt: bool,
    ) -> list[Any]:
        bids, asks = book.view_changes(sub.depth)
        data = {
            "symbol": book.symbol,
            "bids": _levels(bids, book.decimals),
            "asks": _levels(asks, book.decimals),
            "checksum": checksum(book.snapshot(CHECKSUM_LEVELS)) ^ int(corrupt),  # bit flipped
            "timestamp": _iso(update.ts),
        }
        return [{"channel": "book", "type": "update", "data": [data]}]

    def heartbeat_frame(self) -> Any:
        return {"channel": "heartbeat"}
