"""The fakes speak the real wire formats: frames have the recorded fixtures' shapes, the
control endpoint flips faults, and handshakes can be refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arbot.localmarket import LocalExchange

FIXTURES = Path(__file__).parents[1] / "data" / "ccxt"


def recorded(name: str, method: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    first: dict[str, Any] = data["methods"][method][0]
    return first


async def first_data_frame(ws: aiohttp.ClientWebSocketResponse, key: str) -> dict[str, Any]:
    async for msg in ws:
        frame: dict[str, Any] = json.loads(msg.data)
        if key in frame:
            return frame
    raise AssertionError("connection closed before a data frame")


async def test_binance_bookticker_frames_match_the_recorded_shape() -> None:
    """Raw /ws/<n> frames have exactly the keys Binance sends; /stream wraps them."""
    case = recorded("binance.ws.EXTRACT-watchBidsAsks-watchTicker.json", "watchBidsAsks")
    async with LocalExchange("binance", rate=50) as fake, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{fake.url}/ws/0") as ws:
            await ws.send_json(case["sentMessages"][0])
            ack = json.loads((await ws.receive()).data)
            frame = await first_data_frame(ws, "s")
        async with http.ws_connect(f"{fake.url}/stream?streams=btcusdt@bookTicker") as ws:
            combined = await first_data_frame(ws, "stream")
    assert ack == case["messages"][0]
    assert frame.keys() == case["messages"][1].keys()
    assert combined["stream"] == "btcusdt@bookTicker"
    assert combined["data"].keys() == case["messages"][1].keys()


async def test_okx_answers_text_ping_even_when_silent() -> None:
    async with LocalExchange("okx") as fake, aiohttp.ClientSession() as http:
        fake.faults.silent = True
        async with http.ws_connect(f"{fake.url}/ws/v5/public") as ws:
            await ws.send_str("ping")
            assert (await ws.receive()).data == "pong"


async def test_okx_tickers_channel_frame_matches_the_recorded_shape() -> None:
    case = recorded("okx.ws.EXTRACT-watchBidsAsks.json", "watchBidsAsks")
    sample = case["messages"][1]
    async with (
        LocalExchange("okx", rate=50) as fake,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{fake.url}/ws/v5/public") as ws,
    ):
        await ws.send_json({"op": "subscribe", "args": [sample["arg"]]})
        ack = json.loads((await ws.receive()).data)
        frame = await first_data_frame(ws, "data")
    assert ack["event"] == "subscribe" and ack["arg"] == sample["arg"]
    assert frame["arg"] == sample["arg"]
    assert frame["data"][0].keys() == sample["data"][0].keys()


async def test_kraken_v2_ticker_frames_match_the_recorded_shape() -> None:
    case = recorded("kraken.ws.EXTRACT-watchTicker.json", "watchTicker")
    status, _, _, _, update = case["messages"][:5]
    async with (
        LocalExchange("kraken", symbols=("BTC/USD",), rate=50) as fake,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{fake.url}/v2") as ws,
    ):
        hello = json.loads((await ws.receive()).data)
        await ws.send_json(case["sentMessages"][0])
        frame = await first_data_frame(ws, "data")
        while frame.get("channel") != "ticker":
            frame = await first_data_frame(ws, "data")
    assert hello["channel"] == status["channel"]
    recorded_keys = set(update["data"][0]) - {"timestamp"}
    assert recorded_keys <= set(frame["data"][0])


async def test_control_endpoint_sets_and_clears_faults() -> None:
    async with LocalExchange("binance") as fake, aiohttp.ClientSession() as http:
        control = f"{fake.url}/_control/fault"
        async with http.get(control, params={"name": "http_status", "value": "429"}) as r:
            assert r.status == 200
        async with http.get(control, params={"name": "retry_after", "value": "7"}) as r:
            assert r.status == 200
        async with http.get(f"{fake.url}/api/v3/time") as r:
            assert (r.status, r.headers["Retry-After"]) == (429, "7")
        async with http.get(control, params={"name": "nonsense"}) as r:
            assert r.status == 400
            assert "nonsense" in (await r.json())["error"]
        async with http.get(control, params={"name": "clear"}) as r:
            assert r.status == 200
        async with http.get(f"{fake.url}/api/v3/time") as r:
            assert r.status == 200
        async with http.get(f"{fake.url}/_control/counters") as r:
            counters = await r.json()
    assert fake.faults.http_status is None
    assert counters["http_faults"] == 1
    assert counters["requests"]["/api/v3/time"] == 2


async def test_refused_handshake_carries_status_and_retry_after() -> None:
    async with LocalExchange("kraken", symbols=("BTC/USD",)) as fake:
        fake.faults.ws_reject, fake.faults.retry_after = 503, 2.5
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await http.ws_connect(f"{fake.url}/v2")
    assert caught.value.status == 503
    assert caught.value.headers is not None and caught.value.headers["Retry-After"] == "2.5"
    assert fake.ws_rejected == 1


@pytest.mark.parametrize("fault", ["html", "malformed"])
async def test_garbage_bodies(fault: str) -> None:
    async with LocalExchange("okx") as fake, aiohttp.ClientSession() as http:
        setattr(fake.faults, fault, True)
        async with http.get(f"{fake.url}/api/v5/public/time") as r:
            body = await r.text()
    assert r.status == 200
    with pytest.raises(ValueError):
        json.loads(body)
