"""`arbot demo` as a newcomer runs it, scraped by a real Prometheus server on loopback:
the target is up, the committed-ticks counter grows, and the demo reports ticks and
signals stored."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.process import ARBOT
from tests.reliability.config import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus not installed (apt-get install prometheus; .ci/service-checks.sh does)",
    ),
]

DEMO_SECONDS = 26  # okx dislocates every 20 s (arbot.localmarket.demo)


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """A Prometheus server scraping 127.0.0.1:<port> every second; yields (url, port)."""
    target_port, web_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: arbot, static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]}}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{web_port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{web_port}", target_port
    finally:
        proc.terminate()
        await proc.wait()


async def query(url: str, promql: str) -> list[dict[str, Any]]:
    """Instant query through the HTTP API; [] while Prometheus is not answering yet."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/api/v1/query", params={"query": promql}) as resp,
        ):
            body = await resp.json()
    except aiohttp.ClientError:
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_demo_is_scraped_by_prometheus(tmp_path: Path, prometheus: tuple[str, int]) -> None:
    """While the demo runs Prometheus sees `up == 1` and arbot_ticks_committed_total rise;
    at the end the demo prints how many ticks and signals it stored, matching arbot.db."""
    url, port = prometheus
    data_dir = tmp_path / "demo-data"
    demo = await asyncio.create_subprocess_exec(
        ARBOT,
        "demo",
        "--duration",
        str(DEMO_SECONDS),
        "--data-dir",
        str(data_dir),
        "--metrics-listen",
        f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        samples: list[float] = []

        async def committed() -> None:
            result = await query(url, 'arbot_ticks_committed_total{job="arbot"}')
            if result:
                samples.append(float(result[0]["value"][1]))

        up = await eventually_async(
            lambda: query(url, 'up{job="arbot"} == 1'), "target up", within=20
        )
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{port}"
        async with asyncio.timeout(20):
            while len(samples) < 2 or samples[-1] <= samples[0]:
                await committed()
                await asyncio.sleep(1)
        async with asyncio.timeout(DEMO_SECONDS + 30):
            out, err = await demo.communicate()
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
    text = out.decode()
    assert demo.returncode == 0, err.decode()[-2000:]
    assert f"database:  {data_dir / 'arbot.db'}" in text
    match = re.search(r"demo stopped \(exit 0\): arbot.db holds (\d+) ticks, (\d+) signals", text)
    assert match, text
    ticks, signals = int(match[1]), int(match[2])
    with sqlite3.connect(data_dir / "arbot.db") as conn:
        assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == ticks > 0
        assert conn.execute("SELECT count(*) FROM arbitrage_signals").fetchone()[0] == signals
        trades = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
        snapshots = conn.execute("SELECT count(*) FROM balances").fetchone()[0]
        books = conn.execute("SELECT count(*) FROM books").fetchone()[0]
        sized = conn.execute("SELECT count(*) FROM signal_book_trades").fetchone()[0]
    assert signals > 0, "the dislocated synthetic venue should produce signals"
    assert trades > 0, "the demo runs the paper executor on every signal"
    assert snapshots > 0, "paper balances are snapshotted after each trade"
    assert books > 0, "the synthetic venues are followed as order books"
    assert sized > 0, "signals between book venues are sized through the books"
    assert "executable through the books" in text  # beside the top of book's edge


async def eventually_async(probe: Any, what: str, within: float) -> list[dict[str, Any]]:
    """Await `probe()` until it returns a non-empty result."""
    result: list[dict[str, Any]] = []

    async def found() -> bool:
        result[:] = await probe()
        return bool(result)

    try:
        async with asyncio.timeout(within):
            while not await found():  # noqa: ASYNC110  (polls another process)
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    return result
