"""/metrics serves the registry in the Prometheus text format (refreshed per scrape);
/healthz answers 200 while data flows and 503 with the reason otherwise."""

from __future__ import annotations

import asyncio
import shutil
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from arbot.errors import ConfigError
from arbot.health import Flow
from arbot.metrics import Metrics
from arbot.metrics_server import MetricsServer


class State:
    def __init__(self) -> None:
        self.flow = Flow(True, "data flows")
        self.refreshes = 0


@pytest.fixture
async def served(metrics: Metrics) -> AsyncIterator[tuple[MetricsServer, State]]:
    state = State()

    def refresh() -> None:
        state.refreshes += 1
        metrics.queue_depth.set(state.refreshes)

    server = MetricsServer("127.0.0.1:0", metrics, refresh, lambda: state.flow)
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


async def test_healthz_reports_flow(served: tuple[MetricsServer, State]) -> None:
    """200 {"status": "ok"} while flowing; 503 with the reason when not."""
    server, state = served
    status, _, body = await get(f"{server.url}/healthz")
    assert status == 200 and '"status": "ok"' in body
    state.flow = Flow(False, "no batch committed in the last 60 s")
    status, ctype, body = await get(f"{server.url}/healthz")
    assert status == 503 and ctype.startswith("application/json")
    assert "no batch committed in the last 60 s" in body


async def test_port_in_use_is_a_config_error_naming_the_key(
    served: tuple[MetricsServer, State], metrics: Metrics
) -> None:
    """A second server on the same address fails with metrics.listen in the message."""
    server, _ = served
    other = MetricsServer(f"127.0.0.1:{server.port}", metrics, lambda: None, lambda: Flow(True, ""))
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
