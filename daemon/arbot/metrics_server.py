"""HTTP endpoints for operations: /metrics (Prometheus text format) and /healthz.

The endpoint must not starve the daemon or itself, and a scraper must always get an answer
while the daemon runs. At most `max_connections` are served at once (each is a file
descriptor the feeds and SQLite also need). A request must arrive complete within
`read_timeout`; a kept-alive connection may idle `idle_timeout` between requests. A new
connection beyond the cap evicts the least recently active one that is idle or half-sent;
one whose request has arrived or is being answered is never evicted, and if every one is,
the newcomer is answered 503 and closed: at most `max_connections` such answers wait for
their request at once, beyond that the 503 is written at once. A connection the peer closed
stops counting at once. A request gets `request_timeout`, aiohttp's own errors become one
rate-limited log event (no traceback), and the exposition is rendered in a thread of its
own, one rendering shared by concurrent scrapes, so scrapes do not stall the event loop
that carries the quotes."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import struct
import termios
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from arbot.errors import ConfigError
from arbot.logs import get_logger
from arbot.metrics import Metrics

IDLE_TIMEOUT = 10.0
READ_TIMEOUT = 3.0
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
# A request head that has arrived reaches its handler within a loop iteration or two; after
# this long, what looked like one was part of a body and no longer protects the connection.
_HANDOFF = 1.0

_BUSY_BODY = b"too many connections; retry later\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _RequestErrorLog(logging.Logger):
    """Given to aiohttp as its server logger: a request it could not handle (an over-long
    header, a broken request line) is one `http_request_failed` warning with the error's
    text, not a traceback; repeats are rate-limited like every warning."""

    def __init__(self) -> None:
        super().__init__("arbot.http", logging.WARNING)
        self._events = get_logger(component="http")

    def handle(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        error = f"{type(exc).__name__}: {exc}" if exc is not None else record.getMessage()
        self._events.warning("http_request_failed", error=" ".join(error.split())[:300])


class _HeadEnd:
    """Spots the blank line that ends a request head, across reads; after one, it starts
    afresh for the next request."""

    def __init__(self) -> None:
        self._tail = b""

    def seen_in(self, data: bytes) -> bool:
        window = self._tail + data
        seen = b"\r\n\r\n" in window
        self._tail = b"" if seen else window[-3:]
        return seen


def _unread(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel holds for this socket that the loop has not read yet: a request
    that arrived in the same burst as the newcomer looks idle from the loop alone."""
    try:
        fd = transport.get_extra_info("socket").fileno()
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
    except (AttributeError, OSError):  # closing: nothing left to protect
        return 0


class _Connection(asyncio.Protocol):
    """Passes one connection through to aiohttp's handler, noting what eviction needs:
    when it was last active, and whether a request has arrived or is being answered."""

    def __init__(
        self,
        handler: asyncio.Protocol,
        read_timeout: float,
        forget: Callable[[_Connection], None],
    ) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._read_timeout = read_timeout
        self._forget = forget
        self.last_active = self._loop.time()
        self._answering = 0
        self._answered_once = False
        self._head_end = _HeadEnd()
        self._head_at: float | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        # aiohttp's keep-alive timer runs from the start too, but a connection that has
        # not even sent a request should not hold a slot as long as an idle kept-alive one.
        self._deadline = self._loop.call_later(self._read_timeout, self._expire)
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_active = self._loop.time()
        if self._head_at is None and not self._answering:
            if self._head_end.seen_in(data):
                self._head_at = self.last_active
                self._cancel_deadline()
            elif self._deadline is None:
                # The next request on a kept-alive connection has begun: it gets the
                # same time to complete as the first.
                self._deadline = self._loop.call_later(self._read_timeout, self._expire)
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._forget(self)
        self.handler.connection_lost(exc)

    def request_started(self) -> None:
        self._answering += 1
        self._cancel_deadline()

    def request_done(self) -> None:
        self._answering -= 1
        self._answered_once = True
        self._head_at = None
        self.last_active = self._loop.time()

    def evictable(self, now: float) -> bool:
        if self.transport is None:
            # Normally a loop iteration away; if the accept failed after the factory ran,
            # the loop never calls back and only this frees the slot.
            return now - self.last_active > self._read_timeout
        return (
            not self._answering
            and (self._head_at is None or now - self._head_at > _HANDOFF)
            and _unread(self.transport) == 0
        )

    def evict(self) -> None:
        if self.transport is None:
            return
        if not self._answered_once:
            # It may be a client slow to send its request: a 503 tells it why it is cut off.
            self.transport.write(_BUSY)
        # abort, not close: close would wait forever for a peer that reads nothing.
        self.transport.abort()

    def _expire(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


class _Refusal(asyncio.Protocol):
    """Answers 503 to a connection beyond the cap and closes it. The answer waits for the
    request head and the close for the client's, up to `timeout`: closing a socket with
    unread data resets it, which the client may see instead of the answer. With no
    `timeout` there is no room to wait: the answer is written at once."""

    def __init__(self, timeout: float | None, forget: Callable[[_Refusal], None]) -> None:
        self._timeout = timeout
        self._forget = forget
        self._transport: asyncio.Transport | None = None
        self._head_end = _HeadEnd()
        self._answered = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._timeout is None:
            self._answer()
            transport.close()
        else:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        if not self._answered and self._head_end.seen_in(data):
            self._answer()

    def eof_received(self) -> bool:
        if not self._answered:
            self._answer()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._forget(self)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _answer(self) -> None:
        assert self._transport is not None
        self._answered = True
        self._transport.write(_BUSY)
        if self._transport.can_write_eof():
            self._transport.write_eof()


class MetricsServer:
    """Serves `metrics` at /metrics, calling `refresh()` first so gauges computed from live
    state (seconds since the last tick, file sizes) are current at every scrape; /healthz
    answers `health()`'s JSON body, 200 when it says healthy, else 503."""

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        refresh: Callable[[], None],
        health: Callable[[], tuple[bool, dict[str, Any]]],
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)
        self._metrics = metrics
        self._refresh = refresh
        self._health = health
        self._read_timeout = read_timeout
        self._max_connections = max_connections
        # Keyed by aiohttp's handler, which is what a request knows of its connection.
        self._served: dict[asyncio.BaseProtocol, _Connection] = {}
        self._refusals: set[_Refusal] = set()
        self._listener: asyncio.Server | None = None
        self._render: asyncio.Future[bytes] | None = None
        self._renderer = ThreadPoolExecutor(1, thread_name_prefix="arbot-metrics")
        self._log = get_logger(component="http")
        app = web.Application(middlewares=[self._track, _time_limit])
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_health)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=idle_timeout,
            # A body that does not arrive (the routes take none) holds the connection no
            # longer than a request that does not.
            lingering_time=read_timeout,
            logger=_RequestErrorLog(),
        )

    async def start(self) -> None:
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        try:
            self._listener = await loop.create_server(
                self._protocol, self.host, self.port, reuse_address=True
            )
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                f"metrics.listen = {self.host}:{self.port}: cannot listen: {exc.strerror}"
            ) from None
        # With port 0 the OS picked one: report the real address.
        self.port = int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for refusal in list(self._refusals):
            refusal.abort()
        # aiohttp's shutdown waits for every handler, one lingering for a body that never
        # comes included; only requests being answered have anything to finish.
        now = asyncio.get_running_loop().time()
        for connection in list(self._served.values()):
            if connection.evictable(now):
                connection.evict()
        await self._runner.cleanup()
        self._renderer.shutdown(wait=False, cancel_futures=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _protocol(self) -> asyncio.BaseProtocol:
        if len(self._served) >= self._max_connections and not self._evict_one():
            return self._refuse()
        server = self._runner.server
        assert server is not None
        connection = _Connection(server(), self._read_timeout, self._forget)
        self._served[connection.handler] = connection
        return connection

    def _evict_one(self) -> bool:
        now = asyncio.get_running_loop().time()
        for connection in sorted(self._served.values(), key=lambda c: c.last_active):
            if connection.evictable(now):
                del self._served[connection.handler]
                connection.evict()
                self._log.warning(
                    "http_connection_evicted", error="connection cap", cap=self._max_connections
                )
                return True
        return False

    def _refuse(self) -> _Refusal:
        self._log.warning(
            "http_connection_refused", error="all connections busy", cap=self._max_connections
        )
        if len(self._refusals) >= self._max_connections:
            return _Refusal(None, self._refusals.discard)
        refusal = _Refusal(self._read_timeout, self._refusals.discard)
        self._refusals.add(refusal)
        return refusal

    def _forget(self, connection: _Connection) -> None:
        if self._served.get(connection.handler) is connection:
            del self._served[connection.handler]

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = self._served.get(request.protocol)
        if connection is None:  # evicted or closed while the request waited for its turn
            return await handler(request)
        connection.request_started()
        try:
            return await handler(request)
        finally:
            connection.request_done()

    async def _serve_metrics(self, _: web.Request) -> web.Response:
        if self._render is None:
            self._refresh()
            loop = asyncio.get_running_loop()
            render = loop.run_in_executor(self._renderer, generate_latest, self._metrics.registry)
            render.add_done_callback(self._rendered)
            self._render = render
        body = await asyncio.shield(self._render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _rendered(self, _: asyncio.Future[bytes]) -> None:
        self._render = None

    async def _serve_health(self, _: web.Request) -> web.Response:
        healthy, body = self._health()
        return web.json_response(body, status=200 if healthy else 503)


@web.middleware
async def _time_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            return await handler(request)
    except TimeoutError:
        return web.Response(status=503, text="request timed out\n")
