"""Binance spot: REST /api/v3/* and websocket /ws/<n> (raw frames) or /stream (combined
frames) with SUBSCRIBE and `<symbol>@bookTicker` streams, as ccxt.pro's binance expects;
order books as Binance keeps them: REST snapshots (/api/v3/depth, `lastUpdateId`) and the
`<symbol>@depth[@100ms]` diff streams (`depthUpdate` events, update ids `U`..`u`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from arbot.localmarket.books import SIZE_DECIMALS, Book, BookUpdate, Level, decimal
from arbot.localmarket.dialect import BookSub, Dialect, JsonBody, Venue, WsConn
from arbot.localmarket.quotes import Quote

DEPTH_STREAMS = ("depth", "depth@100ms", "depth@1000ms")


def _num(x: float | None) -> str | None:
    return None if x is None else f"{x:.8f}"


def _levels(levels: Sequence[Level], decimals: int) -> list[list[str]]:
    return [[decimal(p, decimals, 8), decimal(s, SIZE_DECIMALS, 8)] for p, s in levels]


class Binance(Dialect):
    kind = "binance"
    ws_paths = ("/ws", "/ws/{n}", "/stream")

    def __init__(self, server: Venue, event_time: bool = False) -> None:
        super().__init__(server)
        # Real spot bookTicker frames carry no event time; USD-M frames carry E and T.
        self.stamps = event_time
        self._ids = {self.market_id(s): s for s in server.symbols}

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "")

    def routes(self) -> list[tuple[str, JsonBody]]:
        return [
            ("/api/v3/exchangeInfo", self.exchange_info),
            ("/fapi/v1/exchangeInfo", lambda r: {"symbols": []}),
            ("/dapi/v1/exchangeInfo", lambda r: {"symbols": []}),
            ("/api/v3/ping", lambda r: {}),
            ("/api/v3/time", lambda r: {"serverTime": int(time.time() * 1000)}),
            ("/api/v3/ticker/bookTicker", self.book_ticker),
            ("/api/v3/ticker/24hr", self.ticker_24hr),
            ("/api/v3/depth", self.depth),
        ]

    def error_body(self, status: int) -> Any:
        if status in (418, 429):
            return {"code": -1003, "msg": "Too many requests; IP banned until later."}
        return {"code": -1001, "msg": f"Internal error; status {status}."}

    def exchange_info(self, request: web.Request) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [self._market(s) for s in self.server.symbols],
        }

    def _market(self, symbol: str) -> dict[str, Any]:
        base, quote = symbol.split("/")
        return {
            "symbol": self.market_id(symbol),
            "status": "TRADING",
            "baseAsset": base,
            "baseAssetPrecision": 8,
            "quoteAsset": quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.01000000",
                    "maxPrice": "1000000.00000000",
                    "tickSize": "0.01000000",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.00001000",
                    "maxQty": "9000.00000000",
                    "stepSize": "0.00001000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "maxNotional": "9000000.00000000",
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _requested(self, request: web.Request) -> list[str]:
        if "symbol" in request.query:
            ids = [request.query["symbol"]]
        elif "symbols" in request.query:
            ids = json.loads(request.query["symbols"])
        else:
            ids = list(self._ids)
        unknown = [i for i in ids if i not in self._ids]
        if unknown:
            raise LookupError(f"Invalid symbol {unknown[0]}")
        return [self._ids[i] for i in ids]

    def _quotes(self, request: web.Request) -> list[Quote]:
        return [q for s in self._requested(request) if (q := self.server.quote_for_rest(s))]

    def book_ticker(self, request: web.Request) -> Any:
        rows = [
            {
                "symbol": self.market_id(q.symbol),
                "bidPrice": _num(q.bid),
                "bidQty": _num(q.bid_size),
                "askPrice": _num(q.ask),
                "askQty": _num(q.ask_size),
            }
            for q in self._quotes(request)
        ]
        return rows[0] if "symbol" in request.query and rows else rows

    def ticker_24hr(self, request: web.Request) -> Any:
        now = int(time.time() * 1000)
        rows = []
        for q in self._quotes(request):
            ms = now if q.ts is None else int(q.ts * 1000)
            rows.append(
                {
                    "symbol": self.market_id(q.symbol),
                    "priceChange": "0",
                    "priceChangePercent": "0",
                    "weightedAvgPrice": _num(q.bid),
                    "prevClosePrice": _num(q.bid),
                    "lastPrice": _num(q.bid),
                    "lastQty": "1.00000000",
                    "bidPrice": _num(q.bid),
                    "bidQty": _num(q.bid_size),
                    "askPrice": _num(q.ask),
                    "askQty": _num(q.ask_size),
                    "openPrice": _num(q.bid),
                    "highPrice": _num(q.ask),
                    "lowPrice": _num(q.bid),
                    "volume": "100.00000000",
                    "quoteVolume": "1000000.00000000",
                    "openTime": ms - 86_400_000,
                    "closeTime": ms,
                    "firstId": 1,
                    "lastId": 100,
                    "count": 100,
                }
            )
        return rows[0] if "symbol" in request.query and rows else rows

    def depth(self, request: web.Request) -> Any:
        if "symbol" not in request.query:
            raise LookupError("Mandatory parameter 'symbol' was not sent")
        (symbol,) = self._requested(request)
        limit = min(int(request.query.get("limit", "100")), 5000)
        snap = self.server.book_for_rest(symbol)
        return {
            "lastUpdateId": snap.id,
            "bids": _levels(snap.bids[:limit], snap.decimals),
            "asks": _levels(snap.asks[:limit], snap.decimals),
        }

    def on_open(self, conn: WsConn) -> list[Any]:
        # /stream?streams=btcusdt@bookTicker/... subscribes in the URL.
        streams = conn.request.query.get("streams", "")
        self._subscribe(conn, [s for s in streams.split("/") if s])
        return []

    def on_message(self, conn: WsConn, text: str) -> list[Any]:
        try:
            msg = json.loads(text)
        except ValueError:
            return [{"error": {"code": 3, "msg": "Invalid JSON"}}]
        method, params, req_id = msg.get("method"), msg.get("params") or [], msg.get("id")
        if method == "SUBSCRIBE":
            self._subscribe(conn, params)
            return [{"result": None, "id": req_id}]
        if method == "UNSUBSCRIBE":
            for stream in params:
                market, _, channel = stream.partition("@")
                conn.subs.discard((channel, market.upper()))
                conn.book_subs.pop((channel, self._ids.get(market.upper(), "")), None)
            return [{"result": None, "id": req_id}]
        if method == "LIST_SUBSCRIPTIONS":
            streams = [f"{m.lower()}@{channel}" for channel, m in conn.subs]
            streams += [f"{self.market_id(s).lower()}@{ch}" for ch, s in conn.book_subs]
            return [{"result": streams, "id": req_id}]
        return [
            {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": req_id}
        ]

    def _subscribe(self, conn: WsConn, streams: list[str]) -> None:
        for stream in streams:
            market, _, channel = stream.partition("@")
            symbol = self._ids.get(market.upper())
            if symbol is None:
                continue
            if channel == "bookTicker":
                conn.subs.add(("bookTicker", market.upper()))
            elif channel in DEPTH_STREAMS:
                # Diffs of the whole book (depth 0) from now on; no snapshot on the stream:
                # clients fetch it over REST.
                self.server.book(symbol)
                conn.book_subs[(channel, symbol)] = BookSub(channel, 0, snapshot_due=False)

    def frames(self, conn: WsConn, q: Quote) -> list[Any]:
        market_id = self.market_id(q.symbol)
        if ("bookTicker", market_id) not in conn.subs:
            return []
        data: dict[str, Any] = {
            "u": self.server.seq,
            "s": market_id,
            "b": _num(q.bid),
            "B": _num(q.bid_size),
            "a": _num(q.ask),
            "A": _num(q.ask_size),
        }
        if self.stamps and q.ts is not None:
            ms = int(q.ts * 1000)
            data = {"e": "bookTicker", **data, "T": ms, "E": ms}
        return [self._wrap(conn, f"{market_id.lower()}@bookTicker", data)]

    def book_update(
        self,
        conn: WsConn,
        sub: BookSub,
        book: Book,
        update: BookUpdate,
        corrupt: bool,
    ) -> list[Any]:
        market_id = self.market_id(book.symbol)
        data = {
            "e": "depthUpdate",
            "E": int(update.ts * 1000),
            "s": market_id,
            "U": update.first,
            "u": update.last,
            "b": _levels(update.bids, book.decimals),
            "a": _levels(update.asks, book.decimals),
        }
        return [self._wrap(conn, f"{market_id.lower()}@{sub.channel}", data)]

    @staticmethod
    def _wrap(conn: WsConn, stream: str, data: dict[str, Any]) -> dict[str, Any]:
        """/stream connections get combined-stream frames, /ws ones the raw payload."""
        if conn.request.path.startswith("/stream"):
            return {"stream": stream, "data": data}
        return data
