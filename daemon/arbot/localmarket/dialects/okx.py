"""OKX v5: REST /api/v5/* wrapped in {"code":"0","data":[...]}, websocket /ws/v5/public
with `bbo-tbt` and `tickers` channels and OKX's text ping/pong; order books on `books`
(a snapshot, then incremental updates chained by `seqId`/`prevSeqId`, each with OKX's
crc32 `checksum` of the best 25 levels) and `books5` (the best 5 levels, whole, each push),
and over REST (/api/v5/market/books)."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from arbot.localmarket.books import SIZE_DECIMALS, Book, BookUpdate, Level, Snapshot, decimal
from arbot.localmarket.dialect import BookSub, Dialect, JsonBody, Venue, WsConn
from arbot.localmarket.quotes import Quote

CHANNELS = ("bbo-tbt", "tickers")
BOOK_CHANNELS = {"books": 400, "books5": 5}  # channel -> levels a side it carries
CHECKSUM_LEVELS = 25


def _num(x: float | None) -> str:
    return "" if x is None else repr(x)


def _ms(q: Quote) -> str:
    return str(int((q.ts if q.ts is not None else time.time()) * 1000))


def _ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def _level(price: int, size: int, decimals: int) -> list[str]:
    """[price, size, "0" (deprecated liquidated orders), order count]."""
    if not size:
        return [decimal(price, decimals), "0", "0", "0"]
    return [decimal(price, decimals), decimal(size, SIZE_DECIMALS), "0", str(1 + size % 9)]


def _levels(levels: Sequence[Level], decimals: int) -> list[list[str]]:
    return [_level(p, s, decimals) for p, s in levels]


def checksum(snap: Snapshot) -> int:
    """OKX's book checksum: signed crc32 of 'bidPx:bidSz:askPx:askSz:...' over the best 25
    levels a side, interleaved, with the prices and sizes as sent."""
    bids = _levels(snap.bids[:CHECKSUM_LEVELS], snap.decimals)
    asks = _levels(snap.asks[:CHECKSUM_LEVELS], snap.decimals)
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        for side in (bids, asks):
            if i < len(side):
                parts += side[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class Okx(Dialect):
    kind = "okx"
    checksums = True
    ws_paths = ("/ws/v5/public",)

    def __init__(self, server: Venue) -> None:
        super().__init__(server)
        self._ids = {self.market_id(s): s for s in server.symbols}

    def market_id(self, symbol: str) -> str:
        return symbol.replace("/", "-")

    def routes(self) -> list[tuple[str, JsonBody]]:
        return [
            ("/api/v5/public/instruments", self.instruments),
            ("/api/v5/public/time", lambda r: _ok([{"ts": str(int(time.time() * 1000))}])),
            ("/api/v5/market/tickers", self.tickers),
            ("/api/v5/market/ticker", self.ticker),
            ("/api/v5/market/books", self.books),
        ]

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"code": "50011", "msg": "Too Many Requests", "data": []}
        return {"code": "50001", "msg": "Service temporarily unavailable", "data": []}

    def instruments(self, request: web.Request) -> Any:
        if request.query.get("instType") != "SPOT":
            return _ok([])
        return _ok([self._instrument(s) for s in self.server.symbols])

    def _instrument(self, symbol: str) -> dict[str, Any]:
        base, quote = symbol.split("/")
        return {
            "alias": "",
            "baseCcy": base,
            "category": "1",
            "ctMult": "",
            "ctType": "",
            "ctVal": "",
            "ctValCcy": "",
            "expTime": "",
            "instFamily": "",
            "instId": self.market_id(symbol),
            "instType": "SPOT",
            "lever": "10",
            "listTime": "1548133413000",
            "lotSz": "0.00000001",
            "maxIcebergSz": "9999999999",
            "maxLmtAmt": "20000000",
            "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000",
            "maxMktSz": "1000000",
            "maxStopSz": "1000000",
            "maxTriggerSz": "9999999999",
            "maxTwapSz": "9999999999",
            "minSz": "0.00001",
            "optType": "",
            "quoteCcy": quote,
            "ruleType": "normal",
            "settleCcy": "",
            "state": "live",
            "stk": "",
            "tickSz": "0.01",
            "uly": "",
        }

    def _ticker(self, q: Quote) -> dict[str, Any]:
        return {
            "instType": "SPOT",
            "instId": self.market_id(q.symbol),
            "last": _num(q.bid),
            "lastSz": "0.001",
            "askPx": _num(q.ask),
            "askSz": _num(q.ask_size),
            "bidPx": _num(q.bid),
            "bidSz": _num(q.bid_size),
            "open24h": _num(q.bid),
            "high24h": _num(q.ask),
            "low24h": _num(q.bid),
            "sodUtc0": _num(q.bid),
            "sodUtc8": _num(q.bid),
            "volCcy24h": "1000000",
            "vol24h": "100",
            "ts": _ms(q),
        }

    def tickers(self, request: web.Request) -> Any:
        quotes = [self.server.quote_for_rest(s) for s in self.server.symbols]
        return _ok([self._ticker(q) for q in quotes if q is not None])

    def ticker(self, request: web.Request) -> Any:
        symbol = self._ids.get(request.query.get("instId", ""))
        if symbol is None:
            raise LookupError("Instrument ID does not exist")
        q = self.server.quote_for_rest(symbol)
        return _ok([] if q is None else [self._ticker(q)])

    def books(self, request: web.Request) -> Any:
        symbol = self._ids.get(request.query.get("instId", ""))
        if symbol is None:
            raise LookupError("Instrument ID does not exist")
        size = min(int(request.query.get("sz", "1")), 400)
        snap = self.server.book_for_rest(symbol)
        return _ok(
            [
                {
                    "asks": _levels(snap.asks[:size], snap.decimals),
                    "bids": _levels(snap.bids[:size], snap.decimals),
                    "ts": str(int(snap.ts * 1000)),
                }
            ]
        )

    def _bbo(self, q: Quote) -> dict[str, Any]:
        return {
            "asks": [[_num(q.ask), _num(q.ask_size), "0", "1"]],
            "bids": [[_num(q.bid), _num(q.bid_size), "0", "1"]],
            "ts": _ms(q),
            "seqId": self.server.seq,
        }

    def on_message(self, conn: WsConn, text: str) -> list[Any]:
        if text == "ping":
            return ["pong"]
        try:
            msg = json.loads(text)
        except ValueError:
            return [{"event": "error", "code": "60012", "msg": f"Illegal request: {text}"}]
        op, args = msg.get("op"), msg.get("args") or []
        if op not in ("subscribe", "unsubscribe"):
            return [{"event": "error", "code": "60012", "msg": f"Illegal request: {text}"}]
        replies: list[Any] = []
        for arg in args:
            channel, inst = arg.get("channel"), arg.get("instId", "")
            if (channel not in CHANNELS and channel not in BOOK_CHANNELS) or inst not in self._ids:
                replies.append(
                    {
                        "event": "error",
                        "code": "60018",
                        "msg": f"Wrong URL or channel:{channel},instId:{inst} doesn't exist",
                    }
                )
                continue
            symbol = self._ids[inst]
            if channel in BOOK_CHANNELS and op == "subscribe":
                self.server.book(symbol)
                conn.book_subs[(channel, symbol)] = BookSub(channel, BOOK_CHANNELS[channel])
            elif channel in BOOK_CHANNELS:
                conn.book_subs.pop((channel, symbol), None)
            elif op == "subscribe":
                conn.subs.add((channel, inst))
            else:
                conn.subs.discard((channel, inst))
            replies.append({"event": op, "arg": arg, "connId": f"{id(conn) & 0xFFFFFFFF:08x}"})
        return replies

    def frames(self, conn: WsConn, q: Quote) -> list[Any]:
        inst = self.market_id(q.symbol)
        out: list[Any] = []
        for channel in CHANNELS:
            if (channel, inst) in conn.subs:
                data = self._bbo(q) if channel == "bbo-tbt" else self._ticker(q)
                out.append({"arg": {"channel": channel, "instId": inst}, "data": [data]})
        return out

    def book_snapshot(self, conn: WsConn, sub: BookSub, book: Book) -> list[Any]:
        if sub.channel == "books5":
            return [self._books5(book)]
        snap = book.snapshot(sub.depth)
        data = {
            "asks": _levels(snap.asks, snap.decimals),
            "bids": _levels(snap.bids, snap.decimals),
            "ts": str(int(snap.ts * 1000)),
            "checksum": checksum(snap),
            "prevSeqId": -1,
            "seqId": snap.id,
        }
        return [{"arg": self._arg(sub.channel, book), "action": "snapshot", "data": [data]}]

    def book_update(
        self,
        conn: WsConn,
        sub: BookSub,
        book: Book,
        update: BookUpdate,
        corrupt: bool,
    ) -> list[Any]:
        if sub.channel == "books5":
            return [self._books5(book)]
        bids, asks = book.view_changes(sub.depth)
        data = {
            "asks": _levels(asks, book.decimals),
            "bids": _levels(bids, book.decimals),
            "ts": str(int(update.ts * 1000)),
            "checksum": checksum(book.snapshot(CHECKSUM_LEVELS)) ^ int(corrupt),  # bit flipped
            "prevSeqId": update.first - 1,
            "seqId": update.last,
        }
        return [{"arg": self._arg(sub.channel, book), "action": "update", "data": [data]}]

    def _books5(self, book: Book) -> dict[str, Any]:
        """books5 pushes carry the whole best 5 levels every time, no action."""
        snap = book.snapshot(BOOK_CHANNELS["books5"])
        data = {
            "asks": _levels(snap.asks, snap.decimals),
            "bids": _levels(snap.bids, snap.decimals),
            "instId": self.market_id(book.symbol),
            "ts": str(int(snap.ts * 1000)),
            "seqId": snap.id,
        }
        return {"arg": self._arg("books5", book), "data": [data]}

    def _arg(self, channel: str, book: Book) -> dict[str, str]:
        return {"channel": channel, "instId": self.market_id(book.symbol)}
