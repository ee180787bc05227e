"""The capture path: every quote ccxt parses reaches the feed in arrival order, whatever
the pace of the feed's own watch calls; what it cannot deliver is counted."""

from __future__ import annotations

import asyncio

import pytest

from arbot.feeds import capture, run_feed
from arbot.localmarket import LocalExchange
from arbot.localmarket.sentlog import expand
from arbot.metrics import Metrics
from arbot.models import QueueItem, Tick
from tests.feeds.conftest import Sink, running, settings, symbols_for
from tests.helpers import sample


def numbers(ticks: list[Tick], symbol: str) -> list[int]:
    return [int(t.ask_size or 0) for t in ticks if t.symbol == symbol]


@pytest.mark.parametrize("kind", ["binance", "okx", "kraken"])
async def test_every_quote_sent_arrives_once_in_order(kind: str) -> None:
    """At 200 quotes/s per symbol (a pace at which ccxt's watch calls alone lose quotes),
    the feed delivers exactly the quotes the fake sent, each once, in sending order."""
    symbols = symbols_for(kind)
    async with (
        LocalExchange(kind, symbols=symbols, rate=200, number_sizes=True) as fake,
        running(settings(kind, fake.url), Metrics()) as sink,
    ):
        await sink.ticks_after(300)
        fake.faults.silent = True
        sent = {s: expand(r) for s, r in fake.sent_log.runs().items()}
        total = sum(len(n) for n in sent.values())
        await sink.wait(lambda: len(sink.ticks) >= total, within=5)
    assert {s: numbers(sink.ticks, s) for s in symbols} == sent


async def test_quotes_arriving_while_the_queue_is_full_are_kept() -> None:
    """A consumer that stalls for a while (a full tick queue) loses nothing: the quotes
    that arrived meanwhile come out afterwards, in order."""
    gate = asyncio.Event()
    sink = Sink()

    async def stalling_put(item: QueueItem) -> None:
        await gate.wait()
        await sink.put(item)

    async with LocalExchange("binance", rate=100, number_sizes=True) as fake:
        task = asyncio.create_task(run_feed(settings("binance", fake.url), stalling_put, Metrics()))
        try:
            await sink.wait(lambda: sum(fake.sent.values()) >= 60)  # ~0.3 s of quotes held
            gate.set()
            await sink.wait(lambda: len(sink.ticks) >= 60)
            fake.faults.silent = True
            sent = {s: expand(r) for s, r in fake.sent_log.runs().items()}
            await sink.wait(lambda: len(sink.ticks) >= sum(len(n) for n in sent.values()))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert {s: numbers(sink.ticks, s) for s in sent} == sent


async def test_a_full_capture_buffer_drops_the_oldest_and_counts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond the capture limit the oldest quotes are dropped: the drop counter plus the
    quotes delivered account for every quote sent, and a feed gap marks the span."""
    monkeypatch.setattr(capture, "CAPTURE_LIMIT", 10)
    gate = asyncio.Event()
    sink = Sink()
    metrics = Metrics()

    async def stalling_put(item: QueueItem) -> None:
        await gate.wait()
        await sink.put(item)

    async with LocalExchange("binance", rate=100, number_sizes=True) as fake:
        cfg = settings("binance", fake.url)
        task = asyncio.create_task(run_feed(cfg, stalling_put, metrics))
        try:
            await sink.wait(lambda: sum(fake.sent.values()) >= 60)
            gate.set()
            await sink.wait(lambda: len(sink.gaps) == 1)
            fake.faults.silent = True
            sent = sum(fake.sent.values())
            await sink.wait(lambda: len(sink.ticks) + dropped(metrics, cfg.name) >= sent)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    lost = dropped(metrics, cfg.name)
    assert lost > 0
    assert len(sink.ticks) + lost == sent
    (gap,) = sink.gaps
    assert gap.reason == f"capture buffer full: {lost} quotes dropped"
    assert gap.start <= gap.end


async def test_an_update_id_going_back_is_a_sequence_gap() -> None:
    """Binance's update id `u` restarting (a venue-side restart) counts one sequence gap
    per symbol and puts a FeedGap naming it; ids that skip ahead are normal."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=50) as fake:
        cfg = settings("binance", fake.url)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(20)
            assert sink.gaps == []
            fake.seq = 0
            await sink.wait(lambda: len(sink.gaps) == 2)
            await sink.ticks_after(10)
    assert sample(metrics, "arbot_feed_sequence_gaps_total", exchange=cfg.name) == 2
    reasons = sorted(g.reason.split(":")[0] for g in sink.gaps)
    assert reasons == ["sequence gap BTC/USDT", "sequence gap ETH/USDT"]
    assert all(" -> " in g.reason and g.start < g.end for g in sink.gaps)


def dropped(metrics: Metrics, exchange: str) -> int:
    return int(sample(metrics, "arbot_feed_quotes_dropped_total", exchange=exchange))
