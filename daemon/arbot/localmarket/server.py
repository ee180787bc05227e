"""LocalExchange: an aiohttp server on 127.0.0.1 that speaks one exchange's wire format,
publishes quotes from a price source, and can be told to misbehave."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from arbot.localmarket import routes, websocket
from arbot.localmarket.books import Book, Snapshot
from arbot.localmarket.dialect import WsConn
from arbot.localmarket.dialects import dialect_for
from arbot.localmarket.faults import Faults
from arbot.localmarket.prerendered import Prerendered
from arbot.localmarket.quotes import PriceSource, Quote, RandomWalk
from arbot.localmarket.sentlog import SentLog
from arbot.settings import ExchangeSettings


class LocalExchange:
    """`async with LocalExchange(kind="binance") as ex:` then point ccxt at `ex.url`.

    Counters: `sent[symbol]` valid quotes sent in websocket frames (one per frame per
    client), `sent_invalid[symbol]` corrupted ones, `served[symbol]` valid quotes returned by
    REST, `requests[path]`, `ws_accepted`, `ws_rejected`, `http_faults`; `sent_log` the
    per-symbol numbers of the quotes sent. With `number_sizes` each quote's ask size is
    its number (1, 2, 3 ... per symbol), so a receiver's stored rows name the quotes they
    are.

    Order books (books.py): a symbol's book starts when first asked for (a depth
    subscription, a REST depth snapshot, `book()` or `/_control/book`), then moves with
    each of its quotes; `book_levels` levels a side, `book_changes` deeper levels changed
    per update. Book counters, by symbol: `book_updates` made, `book_sent` update frames and
    `book_snapshots` snapshot frames sent (per client), `book_withheld` and `book_corrupted`
    updates (faults), `book_served` REST snapshots."""

    def __init__(
        self,
        kind: str = "binance",
        *,
        source: PriceSource | None = None,
        symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"),
        rate: float = 10.0,
        seed: int = 0,
        port: int = 0,
        host: str = "127.0.0.1",
        extra_symbols: Sequence[str] = (),
        event_time: bool = False,
        number_sizes: bool = False,
        book_levels: int = 20,
        book_changes: int = 3,
        book_history: int = 10_000,
        prerendered: bool = False,
    ) -> None:
        self.source: PriceSource = source or RandomWalk(symbols=symbols, rate=rate, seed=seed)
        # Listed markets: what the source quotes plus any listed-but-quiet extras.
        self.symbols = tuple(dict.fromkeys([*self.source.symbols, *extra_symbols]))
        self.faults = Faults()
        self.dialect = dialect_for(kind, self, event_time=event_time)
        self.kind = self.dialect.kind
        self.host, self.port = host, port
        self.latest: dict[str, Quote] = {}
        self.sent: Counter[str] = Counter()
        self.sent_invalid: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.ws_accepted = 0
        self.ws_rejected = 0
        self.http_faults = 0
        self.conns: set[WsConn] = set()
        self.slow_disconnects = 0
        self.seq = 0
        self.sent_log = SentLog()
        self.number_sizes = number_sizes
        self.book_levels = book_levels
        self.book_changes = book_changes
        self.book_history = book_history
        self.seed = seed
        self.books: dict[str, Book] = {}
        self.prerendered = prerendered
        self.book_updates: Counter[str] = Counter()
        self.book_sent: Counter[str] = Counter()
        self.book_snapshots: Counter[str] = Counter()
        self.book_withheld: Counter[str] = Counter()
        self.book_corrupted: Counter[str] = Counter()
        self.book_served: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ccxt_id(self) -> str:
        return self.kind

    def exchange_settings(self, name: str | None = None, **overrides: Any) -> ExchangeSettings:
        """Settings that point a feed at this fake (rate limiter off: it is local)."""
        values: dict[str, Any] = {
            "id": self.ccxt_id,
            "name": name or self.kind,
            "symbols": self.source.symbols,
            "url_override": self.url,
            "ccxt_config": {"enableRateLimit": False},
        }
        if self.dialect.ws_paths == ():
            values["mode"] = "rest"
        return ExchangeSettings(**(values | overrides))

    async def __aenter__(self) -> LocalExchange:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        for path, body in self.dialect.routes():
            app.router.add_get(path, routes.rest(self, body))
        for path in self.dialect.ws_paths:
            app.router.add_get(path, self._serve_ws)
        routes.add_control_routes(app, self)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        for q in self.source.initial():
            self.latest[q.symbol] = q
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._pump()))
        if self.dialect.heartbeat:
            self._tasks.append(loop.create_task(websocket.heartbeats(self, self.dialect.heartbeat)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def drop_connections(self, hard: bool = False) -> int:
        """Close every websocket now; returns how many. `hard` resets the TCP connections
        without a close frame, as a dying network path does."""
        conns = list(self.conns)
        self.conns.difference_update(conns)
        for conn in conns:
            transport = conn.request.transport
            if hard and transport is not None:
                transport.abort()
            else:
                await conn.ws.close(code=1011, message=b"dropped by fault switch")
        return len(conns)

    def valid(self, q: Quote) -> bool:
        """Whether `q` as it is sent now is a valid quote (faults off for it)."""
        f = self.faults
        if f.quote is not None or f.malformed:
            return False
        return not (f.timestamp_offset and self.dialect.stamps and q.ts is not None)

    def quote_for_rest(self, symbol: str) -> Quote | None:
        q = self.latest.get(symbol)
        if q is None:
            return None
        if self.valid(q):
            self.served[symbol] += 1
        return self.faults.apply(q)

    def book(self, symbol: str) -> Book:
        """The symbol's order book, started now from its latest quote if nothing asked for
        it before (books cost time per quote: only symbols someone watches get one)."""
        book = self.books.get(symbol)
        if book is None:
            if symbol not in self.symbols:
                raise LookupError(f"unknown symbol {symbol!r}")
            quote = self.latest.get(symbol) or Quote(symbol, None, None, None, None, None)
            book = self.books[symbol] = Book(
                quote,
                levels=self.book_levels,
                changes=self.book_changes,
                history=self.book_history,
                seed=self.seed,
            )
        return book

    def book_for_rest(self, symbol: str) -> Snapshot:
        """The book a REST depth request gets: `stale_snapshot` updates old when set."""
        self.book_served[symbol] += 1
        return self.book(symbol).ago(self.faults.stale_snapshot)

    async def _pump(self) -> None:
        if self.prerendered:
            await Prerendered(self).pump()
            return
        async for q in self.source.quotes():
            self.latest[q.symbol] = q
            await websocket.publish(self, q)

    async def _serve_ws(self, request: web.Request) -> web.StreamResponse:
        return await websocket.serve(self, request)

    def counters(self) -> dict[str, Any]:
        return {
            "sent": dict(self.sent),
            "sent_invalid": dict(self.sent_invalid),
            "served": dict(self.served),
            "requests": dict(self.requests),
            "ws_accepted": self.ws_accepted,
            "ws_rejected": self.ws_rejected,
            "http_faults": self.http_faults,
            "ws_clients": len(self.conns),
            "slow_disconnects": self.slow_disconnects,
            "sent_seq": self.sent_log.runs(),
            "book_ids": {symbol: book.id for symbol, book in self.books.items()},
            "book_updates": dict(self.book_updates),
            "book_sent": dict(self.book_sent),
            "book_snapshots": dict(self.book_snapshots),
            "book_withheld": dict(self.book_withheld),
            "book_corrupted": dict(self.book_corrupted),
            "book_served": dict(self.book_served),
        }
