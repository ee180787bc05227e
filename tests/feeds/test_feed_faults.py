"""Each fault switch of the fake exchanges produces the feed behaviour it should."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from arbot.errors import ExchangeSetupError
from arbot.feeds import run_feed
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from arbot.models import FeedGap
from tests.feeds.conftest import Sink, running, settings, symbols_for
from tests.helpers import sample


@pytest.mark.parametrize("hard", [False, True])
async def test_dropped_websocket_reconnects_and_reports_down_then_gap(hard: bool) -> None:
    """A dropped connection (closed, or reset without a close frame) puts FeedDown, the feed
    reconnects, and the first tick after it puts a FeedGap spanning the last tick before the
    drop to the first one after."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=20) as fake:
        cfg = settings("binance", fake.url)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(3)
            await fake.drop_connections(hard=hard)
            await sink.wait(lambda: len(sink.gaps) == 1)
            await sink.ticks_after(2)
            assert sample(metrics, "arbot_feed_up", exchange=cfg.name) == 1
    assert sample(metrics, "arbot_feed_up", exchange=cfg.name) == 0  # stopped
    (down,) = sink.downs
    (gap,) = sink.gaps
    before = [t for t in sink.ticks if t.received <= down.since]
    after = [t for t in sink.ticks if t.received > down.since]
    assert gap.start == before[-1].received
    assert gap.end == after[0].received
    assert sink.items.index(down) < sink.items.index(gap) < sink.items.index(after[0])
    assert fake.ws_accepted == 2
    assert sample(metrics, "arbot_feed_reconnects_total", exchange=cfg.name) == 1


async def test_silent_websocket_is_detected_by_the_watch_timeout() -> None:
    """A connection that stays open but sends nothing is closed after watch_timeout and a
    new connection is opened; data resumes when the server speaks again."""
    metrics = Metrics()
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url, watch_timeout=0.3)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(2)
            fake.faults.silent = True
            await sink.wait(lambda: len(sink.downs) == 1)
            await sink.wait(lambda: fake.ws_accepted >= 2)
            fake.faults.silent = False
            await sink.wait(lambda: len(sink.gaps) == 1)
    assert sink.downs[0].reason == "ws timeout"
    assert sample(metrics, "arbot_feed_errors_total", exchange=cfg.name, kind="timeout") >= 1


async def test_auto_mode_polls_rest_while_websocket_is_refused_then_returns() -> None:
    """In auto mode a refused handshake (503 + Retry-After) switches to REST polling, which
    keeps ticks flowing; once handshakes succeed again the feed goes back to websockets."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=20) as fake:
        cfg = settings("binance", fake.url, mode="auto")
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(2)
            fake.faults.ws_reject, fake.faults.retry_after = 503, 0.2
            await fake.drop_connections()
            await sink.wait(lambda: fake.requests["/api/v3/ticker/bookTicker"] >= 3)
            assert sample(metrics, "arbot_feed_websocket", exchange=cfg.name) == 0
            await sink.ticks_after(2)
            await sink.wait(lambda: fake.ws_rejected >= 1)  # the feed probed the websocket
            fake.faults.clear()
            await sink.wait(lambda: sample(metrics, "arbot_feed_websocket", exchange=cfg.name) == 1)
            polls = fake.requests["/api/v3/ticker/bookTicker"]
            await sink.ticks_after(4)
    assert fake.ws_accepted == 2
    assert fake.requests["/api/v3/ticker/bookTicker"] <= polls + 1  # polling stopped
    assert len(sink.downs) == 1 and len(sink.gaps) == 1


@pytest.mark.parametrize(
    ("venue", "status", "kind"),
    [
        ("binance", 429, "rate_limit"),
        ("binance", 418, "rate_limit"),
        ("okx", 429, "rate_limit"),
        ("rest", 429, "rate_limit"),
        ("kraken", 429, "rate_limit"),
        ("binance", 503, "unavailable"),
        ("rest", 500, "unavailable"),
    ],
)
async def test_http_errors_are_retried_with_their_kind_counted(
    venue: str, status: int, kind: str
) -> None:
    """REST errors count as feed errors of the right kind (ccxt raises DDoSProtection or
    RateLimitExceeded for 429 depending on the exchange) and polling resumes after them."""
    metrics = Metrics()
    async with LocalExchange(venue, symbols=symbols_for(venue), rate=20) as fake:
        cfg = settings(venue, fake.url, mode="rest")
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(1)
            fake.faults.http_status = status
            await sink.wait(lambda: len(sink.downs) == 1)
            fake.faults.http_status = None
            await sink.wait(lambda: len(sink.gaps) == 1)
    assert sample(metrics, "arbot_feed_errors_total", exchange=cfg.name, kind=kind) >= 1


async def test_retry_after_is_honoured() -> None:
    """After a 429 with Retry-After: 1 the feed does not ask again for about a second,
    although its poll interval and backoff are far shorter."""
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url, mode="rest")
        async with running(cfg, Metrics()) as sink:
            await sink.ticks_after(1)
            fake.faults.http_status, fake.faults.retry_after = 429, 1.0
            await sink.wait(lambda: fake.http_faults == 1)
            await asyncio.sleep(0.6)
            assert fake.http_faults == 1
            fake.faults.clear()
            await sink.wait(lambda: len(sink.gaps) == 1)


@pytest.mark.parametrize("fault", ["html", "malformed"])
async def test_garbage_rest_answers_emit_no_ticks(fault: str) -> None:
    """HTTP 200 with HTML, or truncated JSON, never becomes a tick; it is counted as a
    rejected tick or a feed error, and good answers afterwards flow again."""
    metrics = Metrics()
    async with LocalExchange("kraken", symbols=("BTC/USD",), rate=20) as fake:
        cfg = settings("kraken", fake.url, mode="rest", symbols=("BTC/USD",))
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(1)
            setattr(fake.faults, fault, True)
            before = len(sink.ticks)
            start = fake.requests["/0/public/Ticker"]
            await sink.wait(lambda: fake.requests["/0/public/Ticker"] >= start + 3)
            assert len(sink.ticks) <= before + 1  # at most one poll was in flight
            fake.faults.clear()
            await sink.ticks_after(1)
    rejected = sum(
        sample(metrics, "arbot_ticks_rejected_total", exchange=cfg.name, reason=r)
        for r in ("missing_price", "malformed")
    )
    errors = sum(
        sample(metrics, "arbot_feed_errors_total", exchange=cfg.name, kind=k)
        for k in ("malformed", "exchange", "network")
    )
    assert rejected + errors >= 2


@pytest.mark.parametrize(
    ("quote", "reason"),
    [
        ("crossed", "crossed"),
        ("nan", "not_finite"),
        ("negative", "non_positive"),
        ("negative_size", "negative_size"),
        ("missing", "missing_price"),
    ],
)
async def test_bad_quotes_are_rejected_by_reason_and_never_emitted(quote: str, reason: str) -> None:
    """Corrupted quotes are counted under their reason; none is put on the queue."""
    metrics = Metrics()
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(1)
            fake.faults.set("quote", quote)
            label = {"exchange": cfg.name, "reason": reason}
            await sink.wait(lambda: sample(metrics, "arbot_ticks_rejected_total", **label) >= 5)
            bad = sum(fake.sent_invalid.values())
            fake.faults.clear()
            await sink.ticks_after(1)
    assert all(0 < t.bid <= t.ask and (t.bid_size or 0) >= 0 for t in sink.ticks)
    assert bad >= 5


@pytest.mark.parametrize(
    ("offset", "reason"), [(3600.0, "future_timestamp"), (-3600.0, "stale_timestamp")]
)
async def test_timestamps_out_of_range_are_rejected(offset: float, reason: str) -> None:
    metrics = Metrics()
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(1)
            count = len(sink.ticks)
            fake.faults.timestamp_offset = offset
            label = {"exchange": cfg.name, "reason": reason}
            await sink.wait(lambda: sample(metrics, "arbot_ticks_rejected_total", **label) >= 3)
            fake.faults.timestamp_offset = 0.0
            emitted_during = len(sink.ticks) - count
    assert emitted_during <= 1  # only a frame already in flight when the switch flipped


async def test_one_exchange_in_trouble_does_not_stall_another() -> None:
    """Two feeds in one event loop: while one exchange is silent and then refuses
    connections, the other keeps delivering."""
    metrics = Metrics()
    async with LocalExchange("okx", rate=20) as bad, LocalExchange("binance", rate=20) as good:
        bad_cfg = settings("okx", bad.url, watch_timeout=0.3)
        async with (
            running(bad_cfg, metrics) as bad_sink,
            running(settings("binance", good.url), metrics) as good_sink,
        ):
            await bad_sink.ticks_after(1)
            bad.faults.silent = True
            await bad_sink.wait(lambda: len(bad_sink.downs) == 1)
            bad.faults.ws_reject = 503
            await bad.drop_connections()
            await good_sink.ticks_after(20)
    assert len(bad_sink.gaps) == 0


async def test_unknown_symbol_is_a_setup_error_naming_exchange_and_symbol() -> None:
    async with LocalExchange("kraken", symbols=("BTC/USD",)) as fake:
        cfg = settings("kraken", fake.url, symbols=("BTC/USD", "DOGE/EUR"))
        with pytest.raises(ExchangeSetupError, match=r"fake-kraken.*DOGE/EUR"):
            await run_feed(cfg, Sink().put, Metrics())


async def test_unknown_exchange_id_is_a_setup_error_naming_it() -> None:
    cfg = settings("binance", "http://127.0.0.1:9", id="nosuchexchange", name="mine")
    with pytest.raises(ExchangeSetupError, match=r"'mine'.*'nosuchexchange'"):
        await run_feed(cfg, Sink().put, Metrics())


async def test_a_restart_gap_is_reported_from_the_previous_runs_last_tick() -> None:
    """Given the last tick time of a previous run, the first tick of this run is preceded by
    a FeedGap covering the downtime."""
    metrics = Metrics()
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url)
        sink = Sink()
        previous = time.time() - 100.0
        feed = asyncio.create_task(run_feed(cfg, sink.put, metrics, last_tick=previous))
        try:
            await sink.ticks_after(2)
        finally:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed
    gap, first = sink.items[:2]
    assert gap == FeedGap(cfg.name, previous, sink.ticks[0].received, "restart")
    assert first == sink.ticks[0]
    assert len(sink.gaps) == 1 and not sink.downs


async def test_malformed_websocket_frames_emit_nothing_and_the_feed_recovers() -> None:
    """Truncated JSON frames break ccxt's reader for that connection; the watch timeout
    replaces the connection, and ticks flow again once frames are whole."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=20) as fake:
        cfg = settings("binance", fake.url, watch_timeout=0.3)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(1)
            fake.faults.malformed = True
            await sink.wait(lambda: len(sink.downs) == 1)
            during = len(sink.ticks)
            await sink.wait(lambda: fake.ws_accepted >= 2)
            assert len(sink.ticks) == during
            fake.faults.malformed = False
            await sink.wait(lambda: len(sink.gaps) == 1)
    assert sum(fake.sent_invalid.values()) >= 1
