"""The demo venue sets feed real ticks through run_feed, with the intended price offsets."""

from __future__ import annotations

import contextlib
import statistics

from arbot.localmarket.demo import demo_exchanges, replay_exchanges
from arbot.metrics import Metrics
from tests.feeds.conftest import running


async def test_demo_venues_quote_one_price_path_with_offsets() -> None:
    """okx quotes above binance and kraken below (one seed, one price path, distinct
    offsets of 5 bp against 1 bp noise; averaged over five ticks each)."""
    metrics = Metrics()
    async with contextlib.AsyncExitStack() as stack:
        sinks = {}
        for fake in demo_exchanges(symbols=("BTC/USDT",), rate=20):
            await stack.enter_async_context(fake)
            cfg = fake.exchange_settings(fake.kind, poll_interval=0.05, watch_timeout=1.0)
            sinks[fake.kind] = await stack.enter_async_context(running(cfg, metrics))
        for sink in sinks.values():
            await sink.ticks_after(5)
    mean = {kind: statistics.fmean(t.bid for t in sink.ticks[-5:]) for kind, sink in sinks.items()}
    assert mean["kraken"] < mean["binance"] < mean["okx"]


async def test_replay_venues_list_the_captured_symbols() -> None:
    spot, usdm = replay_exchanges(speed=50.0)
    async with spot, usdm:
        assert spot.exchange_settings("s").symbols == ("BTC/USDT", "ETH/USDT")
        assert usdm.dialect.stamps and not spot.dialect.stamps
