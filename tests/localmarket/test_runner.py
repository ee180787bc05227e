"""`python -m arbot.localmarket` runs a fake exchange as a separate process."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp


async def test_subprocess_prints_url_serves_control_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbot.localmarket",
        "--kind",
        "okx",
        "--port",
        "0",
        "--rate",
        "20",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
        assert line[:2] == ["LOCALMARKET", "okx"]
        url = line[2]
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{url}/_control/fault", params={"name": "silent", "value": "1"}
            ) as r:
                assert (await r.json())["faults"]["silent"] is True
            async with http.get(f"{url}/api/v5/market/tickers", params={"instType": "SPOT"}) as r:
                tickers = await r.json()
        assert {t["instId"] for t in tickers["data"]} == {"BTC-USDT", "ETH-USDT"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
