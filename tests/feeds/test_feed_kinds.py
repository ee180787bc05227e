"""Each fake exchange kind delivers valid ticks through run_feed with ccxt parsing the wire."""

from __future__ import annotations

import asyncio
import time

import pytest

from arbot.localmarket import LocalExchange, Replay
from arbot.metrics import Metrics
from tests.feeds.conftest import running, settings, symbols_for
from tests.helpers import sample

CASES = [
    ("binance", "ws"),
    ("okx", "ws"),
    ("kraken", "ws"),
    ("binance", "rest"),
    ("okx", "rest"),
    ("kraken", "rest"),
    ("rest", "rest"),
    ("rest", "auto"),
]


@pytest.mark.parametrize(("kind", "mode"), CASES)
async def test_each_kind_delivers_ticks_for_every_symbol(kind: str, mode: str) -> None:
    """Ticks for every configured symbol arrive normalised, named by the configured name."""
    metrics = Metrics()
    symbols = symbols_for(kind)
    async with LocalExchange(kind, symbols=symbols, rate=20) as fake:
        cfg = settings(kind, fake.url, mode=mode)
        async with running(cfg, metrics) as sink:
            await sink.wait(lambda: {t.symbol for t in sink.ticks} == set(symbols))
            tick = sink.ticks[-1]
    assert tick.exchange == cfg.name
    assert 0 < tick.bid <= tick.ask
    assert abs(tick.received - time.time()) < 30
    assert abs(tick.timestamp - tick.received) < 5
    assert sample(metrics, "arbot_ticks_received_total", exchange=cfg.name) >= 2
    websocket = 1.0 if mode == "ws" else 0.0
    assert sample(metrics, "arbot_feed_websocket", exchange=cfg.name) == websocket


async def test_websocket_ticks_carry_sizes_and_exchange_timestamps() -> None:
    """OKX bbo-tbt frames carry sizes and an event time: the tick keeps the exchange's time
    and the latency histogram observes receive minus exchange time."""
    metrics = Metrics()
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url)
        async with running(cfg, metrics) as sink:
            ticks = await sink.ticks_after(4)
    assert all(t.bid_size is not None and t.ask_size is not None for t in ticks)
    assert all(t.timestamp != t.received for t in ticks)
    assert sample(metrics, "arbot_feed_latency_seconds_count", exchange=cfg.name) >= 4


async def test_binance_spot_frames_without_event_time_are_stamped_on_receipt() -> None:
    """Binance spot bookTicker has no event time: timestamp is the receive time."""
    async with (
        LocalExchange("binance", rate=20) as fake,
        running(settings("binance", fake.url), Metrics()) as sink,
    ):
        ticks = await sink.ticks_after(3)
    assert all(t.timestamp == t.received for t in ticks)


async def test_ticks_emitted_equal_valid_quotes_sent() -> None:
    """At a pace the client keeps up with, every valid frame the fake sent becomes one tick."""
    async with (
        LocalExchange("binance", rate=10) as fake,
        running(settings("binance", fake.url), Metrics()) as sink,
    ):
        await sink.ticks_after(10)
        fake.faults.silent = True
        sent = dict(fake.sent)
        await sink.wait(lambda: len(sink.ticks) >= sum(sent.values()), within=2)
    got: dict[str, int] = {}
    for t in sink.ticks:
        got[t.symbol] = got.get(t.symbol, 0) + 1
    assert got == sent


async def test_replayed_usdm_capture_flows_with_exchange_timestamps() -> None:
    """The recorded USD-M frames, replayed fast through the binance fake, arrive as ticks
    carrying (present-shifted) exchange event times."""
    metrics = Metrics()
    source = Replay.venue("usdm", speed=2.0)
    async with LocalExchange("binance", source=source, event_time=True) as fake:
        cfg = fake.exchange_settings("usdm", watch_timeout=2.0, poll_interval=0.05)
        async with running(cfg, metrics) as sink:
            ticks = await sink.ticks_after(50)
    assert {t.symbol for t in ticks} <= {"BTC/USDT", "ETH/USDT"}
    assert all(t.timestamp != t.received and abs(t.received - t.timestamp) < 1 for t in ticks)
    assert 50_000 < max(t.bid for t in ticks if t.symbol == "BTC/USDT") < 70_000


async def test_ws_mode_waits_out_a_handshake_retry_after() -> None:
    """A refused handshake with Retry-After: 1 is not retried before the second is over,
    although the feed's own backoff would retry within milliseconds."""
    async with LocalExchange("kraken", symbols=("BTC/USD",), rate=20) as fake:
        cfg = fake.exchange_settings("k", mode="ws", poll_interval=0.05, watch_timeout=0.5)
        async with running(cfg, Metrics()) as sink:
            await sink.ticks_after(1)
            fake.faults.ws_reject, fake.faults.retry_after = 503, 1.0
            await fake.drop_connections()
            await sink.wait(lambda: fake.ws_rejected == 1)
            await asyncio.sleep(0.6)
            assert fake.ws_rejected == 1
            fake.faults.clear()
            await sink.wait(lambda: len(sink.gaps) == 1)
