"""HTTP endpoints for operations: /metrics (Prometheus text format) and /healthz."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from arbot.errors import ConfigError
from arbot.health import Flow
from arbot.metrics import Metrics


class MetricsServer:
    """Serves `metrics` at /metrics, calling `refresh()` first so gauges computed from live
    state (seconds since the last tick, file sizes) are current at every scrape; /healthz is
    200 while `health()` says data flows, else 503 with the reason as JSON."""

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        refresh: Callable[[], None],
        health: Callable[[], Flow],
    ) -> None:
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)
        self._metrics = metrics
        self._refresh = refresh
        self._health = health
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_health)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                f"metrics.listen = {self.host}:{self.port}: cannot listen: {exc.strerror}"
            ) from None
        # With port 0 the OS picked one: report the real address.
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve_metrics(self, _: web.Request) -> web.Response:
        self._refresh()
        return web.Response(
            body=generate_latest(self._metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _serve_health(self, _: web.Request) -> web.Response:
        flow = self._health()
        return web.json_response(
            {"status": "ok" if flow.flowing else "unhealthy", "reason": flow.reason},
            status=200 if flow.flowing else 503,
        )
