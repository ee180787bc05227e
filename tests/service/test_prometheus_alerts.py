"""The shipped alert rules in a real Prometheus (2 s scrape and evaluation) against the real
daemon and three fake exchanges: stopping one fake fires ArbotFeedDown for it alone, and a
fresh start raises nothing else (ArbotNoSignals in particular stays quiet). About 2.5
minutes (the rule's `for: 2m`): `pytest -m slow tests/service/test_prometheus_alerts.py`."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arbot.localmarket import LocalExchange
from tests.integration.process import DaemonProcess, eventually, eventually_scraped
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import metric

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]
RULES = Path(__file__).parents[2] / "config" / "prometheus" / "alerts.yml"

PROMETHEUS_YML = """
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - {rules}
scrape_configs:
  - job_name: arbot
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, LocalExchange]]:
    async with AsyncExitStack() as stack:
        yield {
            kind: await stack.enter_async_context(LocalExchange(kind, rate=5, seed=i))
            for i, kind in enumerate(("binance", "okx", "kraken"))
        }


async def alerts(url: str) -> list[tuple[str, str, str]]:
    """(alertname, exchange, state) of every pending or firing alert."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/v1/alerts") as resp:
        body: dict[str, Any] = await resp.json()
    return sorted(
        (a["labels"]["alertname"], a["labels"].get("exchange", ""), a["state"])
        for a in body["data"]["alerts"]
    )


async def test_one_stopped_exchange_fires_feed_down_for_it_alone(
    tmp_path: Path, fakes: dict[str, LocalExchange]
) -> None:
    port, prom_port = free_port(), free_port()
    entries = [exchange(name, f.kind, f.url, mode="ws") for name, f in fakes.items()]
    config = write_config(tmp_path / "arbot.toml", daemon_doc(tmp_path / "data", entries, port))
    prom_yml = tmp_path / "prometheus.yml"
    prom_yml.write_text(PROMETHEUS_YML.format(rules=RULES, port=port))
    daemon = await DaemonProcess.start(config, port, {})
    prometheus = await asyncio.create_subprocess_exec(
        "prometheus",
        f"--config.file={prom_yml}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{prom_port}"
    reader = asyncio.create_task(daemon.read_logs())
    try:
        await eventually_scraped(
            daemon,
            lambda s: all(metric(s, "arbot_feed_up", exchange=n) == 1 for n in fakes),
            within=60,
        )
        # Start-up leaves pending alerts (a scrape before the daemon listened, feeds not
        # up yet); they clear once Prometheus sees it running.
        quiet: list[list[tuple[str, str, str]]] = [[("start",) * 3]]

        async def no_alert() -> bool:
            quiet.append(await alerts(url))
            return not quiet[-1]

        async with asyncio.timeout(60):
            while not await no_alert():  # noqa: ASYNC110 (polls another process)
                await asyncio.sleep(1)
        await fakes["okx"].stop()
        seen: list[list[tuple[str, str, str]]] = []

        async def feed_down_fired() -> bool:
            seen.append(await alerts(url))
            return ("ArbotFeedDown", "okx", "firing") in seen[-1]

        async with asyncio.timeout(240):
            while not await feed_down_fired():  # noqa: ASYNC110 (polls another process)
                await asyncio.sleep(2)
        assert seen[-1] == [("ArbotFeedDown", "okx", "firing")]
        raised = {alert[:2] for snapshot in seen for alert in snapshot}
        assert raised == {("ArbotFeedDown", "okx")}, seen
        daemon.terminate()
        assert await daemon.wait() == 0
    finally:
        prometheus.terminate()
        await prometheus.wait()
        await daemon.reap()
        reader.cancel()
    await eventually(lambda: daemon.find("daemon_stopped"), daemon.tail)
