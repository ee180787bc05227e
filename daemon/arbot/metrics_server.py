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
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from arbot.errors import ConfigError
from arbot.http_connections import Connection, Refusal
from arbot.logs import get_logger
from arbot.metrics import Metrics

IDLE_TIMEOUT = 10.0
READ_TIMEOUT = 3.0
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 64

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
        self._served: dict[asyncio.BaseProtocol, Connection] = {}
        self._refusals: set[Refusal] = set()
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
        connection = Connection(server(), self._read_timeout, self._forget)
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

    def _refuse(self) -> Refusal:
        self._log.warning(
            "http_connection_refused", error="all connections busy", cap=self._max_connections
        )
        if len(self._refusals) >= self._max_connections:
            return Refusal(None, self._refusals.discard)
        refusal = Refusal(self._read_timeout, self._refusals.discard)
        self._refusals.add(refusal)
        return refusal

    def _forget(self, connection: Connection) -> None:
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
