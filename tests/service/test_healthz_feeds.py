"""/healthz of the running daemon reports each feed: an exchange answering HTTP 200 with an
HTML page is down with its error, the daemon stays healthy-but-degraded on the others, and
the outage becomes a feed_gaps row once the exchange recovers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from structlog.testing import capture_logs

from arbot.app import run_daemon
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from arbot.settings import parse_settings
from tests.helpers import read
from tests.reliability.config import free_port
from tests.service.test_app import wait_for


async def healthz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as resp:
        return resp.status, await resp.json()


async def test_html_200_exchange_is_down_in_healthz_and_leaves_a_gap(tmp_path: Path) -> None:
    """kraken answers HTML: /healthz 200 "degraded", kraken down with a malformed error,
    binance up; after recovery one feed_down line and one gap row, both kraken's."""
    data_dir = tmp_path / "data"
    stop = asyncio.Event()
    async with (
        LocalExchange("binance", rate=10) as binance,
        LocalExchange("kraken", symbols=("BTC/USD",), rate=10) as kraken,
    ):
        exchanges = [
            binance.exchange_settings(symbols=("BTC/USDT",)).model_dump(),
            kraken.exchange_settings(
                mode="rest", poll_interval=0.1, watch_timeout=0.5
            ).model_dump(),
        ]
        cfg = parse_settings(
            {
                "storage": {"data_dir": str(data_dir), "linger_ms": 20},
                "exchanges": exchanges,
                "metrics": {"listen": f"127.0.0.1:{free_port()}", "healthy_after": 5.0},
                "retention": {"enabled": False},
                "backup": {"enabled": False},
            },
            "test",
        )
        state: dict[str, Any] = {}

        async def poll(predicate: Any) -> None:
            async def check() -> None:
                state["status"], state["body"] = await healthz(url)

            async with asyncio.timeout(30):
                while True:
                    await check()
                    if predicate(state["body"]):
                        return
                    await asyncio.sleep(0.1)

        with capture_logs() as logged:
            daemon = asyncio.create_task(run_daemon(cfg, stop.wait(), Metrics()))
            try:
                await wait_for(
                    lambda: any(e["event"] == "metrics_listening" for e in logged),
                    lambda: "metrics_listening",
                )
                url = next(e for e in logged if e["event"] == "metrics_listening")["url"]
                url = url.removesuffix("/metrics")
                await poll(lambda b: b["status"] == "ok")
                assert state["status"] == 200
                kraken.faults.html = True
                await poll(lambda b: b["feeds"]["kraken"]["state"] == "down")
                assert state["status"] == 200 and state["body"]["status"] == "degraded"
                feed = state["body"]["feeds"]["kraken"]
                assert feed["last_error"]["kind"] == "malformed"
                assert state["body"]["feeds"]["binance"]["state"] == "up"
                kraken.faults.clear()
                await poll(lambda b: b["feeds"]["kraken"]["state"] != "down")
            finally:
                stop.set()
                assert await daemon == 0
    assert [e["exchange"] for e in logged if e["event"] == "feed_down"] == ["kraken"]
    assert read(data_dir, "SELECT exchange FROM feed_gaps") == [("kraken",)]
