"""/metrics serves the registry in the Prometheus text format (refreshed per scrape);
/healthz answers health()'s body, 200 when healthy and 503 otherwise; the endpoint closes
idle connections, caps them without starving scrapers (evicting idle ones, 503 when all are
busy), logs aiohttp's errors as events and renders off the loop."""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import threading
import time
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from structlog.testing import capture_logs

from arbot.errors import ConfigError
from arbot.metrics import Metrics
from arbot.metrics_server import MAX_CONNECTIONS, MetricsServer
from tests.helpers import wait_until


class State:
    def __init__(self) -> None:
        self.health: tuple[bool, dict[str, Any]] = (True, {"status": "ok"})
        self.refreshes = 0


@asynccontextmanager
async def serving(
    metrics: Metrics, state: State | None = None, **options: Any
) -> AsyncIterator[MetricsServer]:
    live = state or State()

    def refresh() -> None:
        live.refreshes += 1
        metrics.queue_depth.set(live.refreshes)

    server = MetricsServer("127.0.0.1:0", metrics, refresh, lambda: live.health, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def served(metrics: Metrics) -> AsyncIterator[tuple[MetricsServer, State]]:
    state = State()
    async with serving(metrics, state, idle_timeout=0.3, read_timeout=0.3) as server:
        yield server, state


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


async def test_a_request_gets_read_timeout_to_arrive_a_kept_alive_connection_idle_timeout(
    metrics: Metrics,
) -> None:
    """A connection that sends nothing, or a POST whose announced body never comes, is
    closed after read_timeout; a kept-alive one that completed its request is not, until
    it sends half of its next one."""

    async def answered(reader: asyncio.StreamReader) -> bool:
        status = await reader.readline()
        await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"}")  # the end of the JSON body
        return status.startswith(b"HTTP/1.1 200")

    async with serving(metrics, idle_timeout=30, read_timeout=0.2) as server:
        kept_r, kept_w = await connect(server)
        kept_w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await answered(kept_r)
        silent_r, silent_w = await connect(server)
        post_r, post_w = await connect(server)
        post_w.write(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        assert (await post_r.readline()).startswith(b"HTTP/1.1 405")
        async with asyncio.timeout(5):
            assert b"Method Not Allowed" in await post_r.read()  # the rest, then closed
        assert await closed_by_server(silent_r)
        kept_w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await answered(kept_r)
        kept_w.write(b"GET /healthz HTTP/1.1\r\n")
        assert await closed_by_server(kept_r)
        for w in (kept_w, silent_w, post_w):
            w.close()


async def test_a_new_connection_evicts_the_least_recently_active_idle_one(
    metrics: Metrics,
) -> None:
    """With max_connections idle ones open, a scrape is answered at once: the oldest idle
    connection is told 503 and closed (one log event), not the newcomer."""
    async with serving(metrics, idle_timeout=30, read_timeout=30, max_connections=8) as server:
        with capture_logs() as logged:
            held = [await connect(server) for _ in range(8)]
            status, _, _ = await get(f"{server.url}/healthz")
            assert status == 200
            oldest_r, _ = held[0]
            async with asyncio.timeout(5):
                assert (await oldest_r.read()).startswith(b"HTTP/1.1 503 ")
        assert [e["event"] for e in logged] == ["http_connection_evicted"]
        for _, w in held:
            w.close()


def server_sockets(server: MetricsServer) -> int:
    """Sockets of the server's port that hold a file descriptor (a closed one lingers in
    the table with inode 0), from /proc/net/tcp."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("no /proc/net/tcp to count the server's sockets")
    rows = [line.split() for line in table.read_text().splitlines()[1:]]
    port = f":{server.port:04X}"
    # Columns: sl, local, remote, state (0A = listening), ..., inode (10th).
    return sum(1 for r in rows if r[1].endswith(port) and r[3] != "0A" and r[9] != "0")


async def post_without_body(
    server: MetricsServer,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST announcing a body it does not send, once answered: aiohttp waits for the body."""
    r, w = await connect(server)
    w.write(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
    assert (await r.readline()).startswith(b"HTTP/1.1 405")
    return r, w


async def test_connections_the_client_closed_do_not_count(metrics: Metrics) -> None:
    """POSTs that announce a body and close after the answer stop counting once their
    sockets are closed, though aiohttp still waits for the body: a scrape needs no eviction."""
    async with serving(metrics, idle_timeout=30, read_timeout=30, max_connections=8) as server:
        for _ in range(8):
            _, w = await post_without_body(server)
            w.close()
        await wait_until(lambda: server_sockets(server) == 0)
        with capture_logs() as logged:
            status, _, _ = await get(f"{server.url}/healthz")
        assert status == 200 and logged == []


class Blocking(Collector):
    """A collector that holds the rendering until released: every scrape waits on it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.entered.set()
        self.released.wait(timeout=30)
        yield GaugeMetricFamily("arbot_test_value", "test", value=1.0)


async def test_beyond_the_cap_with_every_connection_busy_the_answer_is_503(
    metrics: Metrics,
) -> None:
    """When every connection has a request being answered, a new one is told 503 (a log
    event each) rather than reset, also once as many 503s wait for their request, and the
    busy ones are all answered."""
    blocking = Blocking()
    metrics.registry.register(blocking)
    async with serving(metrics, max_connections=8) as server:
        busy = [await connect(server) for _ in range(8)]
        waiting: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for _, w in busy:
                w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                await w.drain()
            await wait_until(blocking.entered.is_set)
            with capture_logs() as logged:
                answer = await get(f"{server.url}/healthz")
                assert answer == (
                    503,
                    "text/plain; charset=utf-8",
                    "too many connections; retry later\n",
                )
                # Silent ones fill every place a 503 can wait for its request in: the next
                # is answered at once.
                waiting = [await connect(server) for _ in range(8)]
                assert await get(f"{server.url}/healthz") == answer
            assert [e["event"] for e in logged] == ["http_connection_refused"] * 10
        finally:
            blocking.released.set()
        for r, w in busy:
            assert (await r.readline()).startswith(b"HTTP/1.1 200")
            w.close()
        for _, w in waiting:
            w.close()


IDLE = 1_100
HALF_SENT = 64


@pytest.fixture
def fd_room() -> Iterator[None]:
    """Room in this one process for the held client sockets, the server's side of them
    (bounded by the cap) and what pytest already has open."""
    needed = IDLE + HALF_SENT + 4 * MAX_CONNECTIONS + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files; the hard limit (ulimit -Hn) is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("fd_room")
@pytest.mark.parametrize("then", ["close", "stall"])
async def test_scrapes_are_answered_within_1s_despite_idle_and_half_sent_connections(
    metrics: Metrics, then: str
) -> None:
    """With 1,100 idle connections held open against the default cap, and 64 POSTs that
    announce a body, are answered 405 and then close (or never send the body), a fresh
    /metrics and /healthz are answered 200 within 1 s, and the server holds no more sockets
    than its bound."""
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    # Timeouts far beyond the test: only eviction and not counting closed ones can help.
    async with serving(metrics, idle_timeout=600, read_timeout=600) as server:
        try:
            held += [await connect(server) for _ in range(IDLE)]
            for _ in range(HALF_SENT):
                r, w = await post_without_body(server)
                if then == "close":
                    w.close()
                else:
                    held.append((r, w))
            for path in ("/metrics", "/healthz"):
                start = time.monotonic()
                status, _, _ = await get(f"{server.url}{path}")
                seconds = time.monotonic() - start
                assert status == 200 and seconds < 1.0, (path, status, seconds)
            assert server_sockets(server) <= 2 * MAX_CONNECTIONS
        finally:
            for _, w in held:
                w.close()


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
