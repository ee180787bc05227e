"""A feed's health as it reports it: answers that are all garbage make it down like silence
does, tick age counts from start, and error logs name the root cause."""

from __future__ import annotations

import asyncio
import socket

from structlog.testing import capture_logs

from arbot.feeds import run_feed
from arbot.feeds.status import FeedStatus
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from tests.feeds.conftest import Sink, settings
from tests.helpers import sample


async def test_html_200_answers_for_watch_timeout_mean_down_then_a_gap() -> None:
    """HTTP 200 with an HTML page on every poll: after watch_timeout the feed is down
    (FeedDown put, feed_up 0, a feed_down warning, status error "malformed"); good answers
    again put the FeedGap that becomes the gap row, and feed_up is 1."""
    metrics = Metrics()
    sink = Sink()
    status = FeedStatus("fake-kraken", 0.0)
    async with LocalExchange("kraken", symbols=("BTC/USD",), rate=20) as fake:
        cfg = settings("kraken", fake.url, mode="rest", symbols=("BTC/USD",))
        with capture_logs() as logged:
            task = asyncio.create_task(run_feed(cfg, sink.put, metrics, status=status))
            try:
                await sink.ticks_after(1)
                up = {"exchange": cfg.name}
                assert sample(metrics, "arbot_feed_up", **up) == 1
                fake.faults.html = True
                await sink.wait(lambda: len(sink.downs) == 1, within=5)
                assert sample(metrics, "arbot_feed_up", **up) == 0
                assert status.error_kind == "malformed"
                fake.faults.clear()
                await sink.wait(lambda: len(sink.gaps) == 1, within=5)
                assert sample(metrics, "arbot_feed_up", **up) == 1
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    down = [e for e in logged if e["event"] == "feed_down"]
    assert len(down) == 1 and down[0]["log_level"] == "warning"
    assert "malformed" in down[0]["error"]
    (gap,) = sink.gaps
    assert gap.start <= sink.downs[0].since < gap.end


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_never_delivered_feed_ages_from_start_and_logs_the_root_cause() -> None:
    """Nothing listens at the exchange's address: seconds since the last tick grows from
    start-up (not 0), and feed_error names the refused connection under ccxt's error."""
    metrics = Metrics()
    sink = Sink()
    now = [1000.0]
    cfg = settings("binance", f"http://127.0.0.1:{closed_port()}", mode="rest")
    with capture_logs() as logged:
        task = asyncio.create_task(run_feed(cfg, sink.put, metrics, lambda: now[0]))
        try:
            await sink.wait(lambda: any(e["event"] == "feed_error" for e in logged), within=10)
            now[0] += 42.0
            age = sample(metrics, "arbot_feed_seconds_since_last_tick", exchange=cfg.name)
            assert age == 42.0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    error = next(e for e in logged if e["event"] == "feed_error")
    assert error["error"].startswith("ExchangeNotAvailable")
    assert "ConnectionRefusedError" in error["cause"] or "Connect call failed" in error["cause"]
