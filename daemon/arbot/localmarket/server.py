"""LocalExchange: an aiohttp server on 127.0.0.1 that speaks one exchange's wire format,
publishes quotes from a price source, and can be told to misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from arbot.localmarket.books import Book, BookUpdate, Snapshot
from arbot.localmarket.dialect import JsonBody, WsConn
from arbot.localmarket.dialects import dialect_for
from arbot.localmarket.faults import Faults
from arbot.localmarket.quotes import PriceSource, Quote, RandomWalk
from arbot.localmarket.sentlog import SentLog
from arbot.settings import ExchangeSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Bytes a websocket client may lag behind (unsent in its socket buffer) before it is
# disconnected, as exchanges drop slow consumers. Up to there sending never waits for it,
# so one slow client neither slows the pace of the quotes nor the other clients.
SLOW_CLIENT_BYTES = 4 * 1024 * 1024


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
            app.router.add_get(path, self._rest(body))
        for path in self.dialect.ws_paths:
            app.router.add_get(path, self._ws)
        app.router.add_get("/_control/fault", self._control_fault)
        app.router.add_post("/_control/fault", self._control_fault)
        app.router.add_get("/_control/counters", self._control_counters)
        app.router.add_get("/_control/book", self._control_book)
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
            self._tasks.append(loop.create_task(self._heartbeats(self.dialect.heartbeat)))

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
        async for q in self.source.quotes():
            self.latest[q.symbol] = q
            await self.publish(q)

    async def publish(self, q: Quote) -> None:
        if self.faults.silent:
            return
        number = self.sent_log.next(q.symbol)
        if self.number_sizes:
            q = q._replace(ask_size=float(number))
        valid = self.valid(q)
        sent = self.faults.apply(q)
        # The book follows the clean quote: quote faults corrupt what is sent, not the venue.
        book = self.books.get(q.symbol)
        update = None if book is None else book.step(q)
        withheld = corrupt = False
        if update is not None:
            self.book_updates[q.symbol] += 1
            withheld = self.faults.take("book_gap")
            corrupt = not withheld and self.dialect.checksums and self.faults.take("bad_checksum")
            if withheld:
                self.book_withheld[q.symbol] += 1
            if corrupt:
                self.book_corrupted[q.symbol] += 1
        for conn in list(self.conns):
            if self._too_slow(conn):
                continue
            for frame in self.dialect.frames(conn, sent):
                if await self._send(conn, frame):
                    if valid:
                        self.sent[q.symbol] += 1
                        self.sent_log.sent(q.symbol, number)
                    else:
                        self.sent_invalid[q.symbol] += 1
            if book is not None and conn.book_subs:
                await self._send_book(conn, book, None if withheld else update, corrupt)
        self.seq += 1

    async def _send_book(
        self, conn: WsConn, book: Book, update: BookUpdate | None, corrupt: bool
    ) -> None:
        """A due snapshot, else the update, to each of conn's subscriptions to this book.
        Snapshots go out from the pump, as updates do, so a client's snapshot comes before
        its updates and already holds the update of its round."""
        for (_, symbol), sub in list(conn.book_subs.items()):
            if symbol != book.symbol:
                continue
            if sub.snapshot_due:
                sub.snapshot_due = False
                frames = self.dialect.book_snapshot(conn, sub, book)
                counter = self.book_snapshots
            elif update is not None:
                frames = self.dialect.book_update(conn, sub, book, update, corrupt)
                counter = self.book_sent
            else:
                continue
            for frame in frames:
                if await self._send(conn, frame):
                    counter[symbol] += 1

    def _too_slow(self, conn: WsConn) -> bool:
        transport = conn.request.transport
        if transport is None or transport.get_write_buffer_size() <= SLOW_CLIENT_BYTES:
            return False
        self.slow_disconnects += 1
        self.conns.discard(conn)
        transport.abort()
        return True

    async def _heartbeats(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if not self.faults.silent:
                for conn in list(self.conns):
                    await self._send(conn, self.dialect.heartbeat_frame())

    async def _send(self, conn: WsConn, frame: Any) -> bool:
        text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        if self.faults.malformed and not isinstance(frame, str):
            text = text[: len(text) // 2]
        try:
            await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            self.conns.discard(conn)
            return False
        return True

    def _rest(self, body: JsonBody) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            self.requests[request.path] += 1
            f = self.faults
            if f.http_status is not None:
                self.http_faults += 1
                headers = {} if f.retry_after is None else {"Retry-After": f"{f.retry_after:g}"}
                if f.http_status >= 500:  # what a load balancer in front says
                    return web.Response(
                        status=f.http_status,
                        headers=headers,
                        content_type="text/html",
                        text=f"<html><h1>{f.http_status} Service Unavailable</h1></html>",
                    )
                return web.json_response(
                    self.dialect.error_body(f.http_status), status=f.http_status, headers=headers
                )
            if f.html:
                return web.Response(
                    text="<html><body><h1>Maintenance</h1></body></html>", content_type="text/html"
                )
            try:
                data = body(request)
            except (LookupError, ValueError) as exc:  # unknown symbol, unparsable parameter
                return web.json_response(
                    self.dialect.error_body(400) | {"detail": str(exc)}, status=400
                )
            text = json.dumps(data, separators=(",", ":"))
            if f.malformed:
                text = text[: len(text) // 2]
            return web.Response(text=text, content_type="application/json")

        return handler

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        f = self.faults
        if f.ws_reject is not None:
            self.ws_rejected += 1
            headers = {} if f.retry_after is None else {"Retry-After": f"{f.retry_after:g}"}
            return web.Response(status=f.ws_reject, text="unavailable", headers=headers)
        # No permessage-deflate: the venues we fake do not compress their frames either.
        ws = web.WebSocketResponse(autoping=True, compress=False)
        await ws.prepare(request)
        if request.transport is not None:
            # Sending waits only beyond this; _too_slow disconnects before.
            request.transport.set_write_buffer_limits(high=2 * SLOW_CLIENT_BYTES)
        self.ws_accepted += 1
        conn = WsConn(ws, request)
        self.conns.add(conn)
        try:
            for frame in self.dialect.on_open(conn):
                await self._send(conn, frame)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                for frame in self.dialect.on_message(conn, msg.data):
                    # Silence covers data and acks; text pongs still answer (the OKX case).
                    if not self.faults.silent or isinstance(frame, str):
                        await self._send(conn, frame)
        finally:
            self.conns.discard(conn)
        return ws

    async def _control_fault(self, request: web.Request) -> web.Response:
        name = request.query.get("name", "")
        value = request.query.get("value")
        try:
            if name == "drop":
                dropped = await self.drop_connections(hard=value == "hard")
                return web.json_response({"dropped": dropped})
            if name == "sequence_reset":
                # The venue's update ids start again, as after an exchange-side restart.
                self.seq = 0
                return web.json_response({"seq": 0})
            if name == "clear":
                self.faults.clear()
            else:
                self.faults.set(name, value)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"faults": vars(self.faults)})

    async def _control_book(self, request: web.Request) -> web.Response:
        """`?symbol=BTC/USDT[&id=N][&depth=D]`: the book now, or right after update id N
        (while retained), as decimal strings, best first."""
        try:
            book = self.book(request.query.get("symbol", ""))
            update_id, depth = request.query.get("id"), request.query.get("depth")
            snap = book.snapshot() if update_id is None else book.at(int(update_id))
            return web.json_response(snap.text(None if depth is None else int(depth)))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except LookupError as exc:
            return web.json_response({"error": str(exc)}, status=404)

    async def _control_counters(self, request: web.Request) -> web.Response:
        return web.json_response(self.counters())

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
