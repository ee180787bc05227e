"""/metrics serves the registry in the Prometheus text format (refreshed per scrape);
/healthz answers health()'s body, 200 when healthy and 503 otherwise; the endpoint closes
idle connections, caps them, logs aiohttp's errors as events and renders off the loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from structlog.testing import capture_logs

from arbot.errors import ConfigError
from arbot.metrics import Metrics
from arbot.metrics_server import MetricsServer


class State:
    def __init__(self) -> None:
        self.health: tuple[bool, dict[str, Any]] = (True, {"status": "ok"})
        self.refreshes = 0


@pytest.fixture
async def served(metrics: Metrics) -> AsyncIterator[tuple[MetricsServer, State]]:
    state = State()

    def refresh() -> None:
        state.refreshes += 1
        metrics.queue_depth.set(state.refreshes)

    server = MetricsServer(
        "127.0.0.1:0", metrics, refresh, lambda: state.health, idle_timeout=0.3, max_connections=8
    )
    await server.start()
    try:
        yield server, state
    finally:
        await server.stop()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.text()


async def test_metrics_are_refreshed_at_each_scrape(
    served: tuple[MetricsServer, State], metrics: Metrics
) -> None:
    """Each scrape calls refresh first, so live gauges are current."""
    server, _ = served
    metrics.init_exchange("binance")
    metrics.ticks_received.labels("binance").inc(7)
    for expected_depth in (1.0, 2.0):
        status, ctype, text = await get(f"{server.url}/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("arbot_queue_depth", ())] == expected_depth
        assert samples[("arbot_ticks_received_total", (("exchange", "binance"),))] == 7.0


async def test_healthz_answers_the_health_body(served: tuple[MetricsServer, State]) -> None:
    """200 with the body while healthy; 503 with the body when not."""
    server, state = served
    status, _, body = await get(f"{server.url}/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    unhealthy = {"status": "unhealthy", "reason": "no batch committed in the last 60 s"}
    state.health = (False, unhealthy)
    status, ctype, body = await get(f"{server.url}/healthz")
    assert status == 503 and ctype.startswith("application/json")
    assert json.loads(body) == unhealthy


async def connect(server: MetricsServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port)


async def closed_by_server(reader: asyncio.StreamReader, within: float = 5.0) -> bool:
    async with asyncio.timeout(within):
        return await reader.read() == b""


async def test_idle_and_half_sent_connections_are_closed(
    served: tuple[MetricsServer, State],
) -> None:
    """A connection that sends nothing, or half a request, is closed after idle_timeout."""
    server, _ = served
    idle_r, idle_w = await connect(server)
    half_r, half_w = await connect(server)
    half_w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    await half_w.drain()
    assert await closed_by_server(idle_r) and await closed_by_server(half_r)
    for w in (idle_w, half_w):
        w.close()


async def test_connections_beyond_the_cap_are_refused_and_logged(
    served: tuple[MetricsServer, State],
) -> None:
    """With max_connections open, the next one is closed at once (one log event); once the
    idle ones time out /healthz answers again."""
    server, _ = served
    with capture_logs() as logged:
        held = [await connect(server) for _ in range(8)]
        await asyncio.sleep(0.05)  # let the server register them
        extra_r, extra_w = await connect(server)
        assert await closed_by_server(extra_r, within=0.25)
    assert [e["event"] for e in logged] == ["http_connection_refused"]
    for _, w in [*held, (extra_r, extra_w)]:
        w.close()
    status, _, _ = await get(f"{server.url}/healthz")
    assert status == 200


async def test_a_bad_request_is_one_log_event_without_traceback(
    served: tuple[MetricsServer, State],
) -> None:
    """An over-long header gets 400 and one http_request_failed warning; a burst of them
    is rate-limited by the logging set-up, not printed as tracebacks."""
    server, _ = served
    with capture_logs() as logged:
        reader, writer = await connect(server)
        writer.write(b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n")
        await writer.drain()
        assert b" 400 Bad Request" in await reader.readline()
        writer.close()
    (event,) = logged
    assert event["event"] == "http_request_failed" and event["log_level"] == "warning"
    assert "exception" not in event and "Got more than" in event["error"]


class ThreadRecorder(Collector):
    """A collector noting which thread collected it."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.threads.append(threading.current_thread().name)
        yield GaugeMetricFamily("arbot_test_value", "test", value=1.0)


async def test_exposition_is_rendered_off_the_event_loop(
    served: tuple[MetricsServer, State], metrics: Metrics
) -> None:
    """The registry is collected in the renderer thread; concurrent scrapes share renders."""
    server, state = served
    recorder = ThreadRecorder()
    metrics.registry.register(recorder)
    results = await asyncio.gather(*(get(f"{server.url}/metrics") for _ in range(20)))
    assert all(status == 200 and "arbot_test_value 1.0" in text for status, _, text in results)
    assert recorder.threads and all(t.startswith("arbot-metrics") for t in recorder.threads)
    assert len(recorder.threads) == state.refreshes < 20


async def test_port_in_use_is_a_config_error_naming_the_key(
    served: tuple[MetricsServer, State], metrics: Metrics
) -> None:
    """A second server on the same address fails with metrics.listen in the message."""
    server, _ = served
    other = MetricsServer(f"127.0.0.1:{server.port}", metrics, lambda: None, lambda: (True, {}))
    with pytest.raises(ConfigError, match=r"metrics\.listen = 127\.0\.0\.1:\d+: cannot listen"):
        await other.start()


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (apt-get install prometheus; .ci/service-checks.sh does)",
)
async def test_promtool_finds_nothing_to_criticise(
    served: tuple[MetricsServer, State], metrics: Metrics
) -> None:
    """`promtool check metrics` (naming and help conventions) on a live scrape prints nothing."""
    server, _ = served
    metrics.init_exchange("binance")
    _, _, text = await get(f"{server.url}/metrics")
    proc = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    output, _ = await proc.communicate(text.encode())
    assert (proc.returncode, output.decode()) == (0, "")
