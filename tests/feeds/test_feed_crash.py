"""Whatever ccxt, aiohttp, the OS or our own code raises inside a feed is an outage of that
exchange (FeedDown, backoff, reconnect, FeedGap), never the end of the feed task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from arbot.feeds import ccxt_client, run_feed
from arbot.feeds.emit import Emitter
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from tests.feeds.conftest import Sink, running, settings, symbols_for
from tests.helpers import sample


def _reset() -> Exception:
    # What ccxt's websocket ping loop raised in the field under overload.
    return aiohttp.ClientConnectionResetError("Cannot write to closing transport")


@contextmanager
def faulty(
    monkeypatch: pytest.MonkeyPatch, method: str, error: Callable[[], Exception], times: int = 1
) -> Iterator[list[Any]]:
    """Every ccxt instance the feed builds raises `error()` from `method` the first `times`
    calls; yields the instances built."""
    real = ccxt_client._instance
    built: list[Any] = []
    left = [times]

    def instance(cfg: Any) -> Any:
        ex = real(cfg)
        original = getattr(ex, method)

        async def failing(*args: Any, **kwargs: Any) -> Any:
            if left[0] > 0:
                left[0] -= 1
                raise error()
            return await original(*args, **kwargs)

        setattr(ex, method, failing)
        built.append(ex)
        return ex

    monkeypatch.setattr(ccxt_client, "_instance", instance)
    yield built


@pytest.mark.parametrize(
    ("kind", "mode", "method", "error"),
    [
        ("binance", "ws", "watch_bids_asks", _reset),
        ("okx", "ws", "watch_bids_asks", lambda: ConnectionResetError(104, "reset by peer")),
        ("binance", "rest", "fetch_bids_asks", lambda: OSError(113, "No route to host")),
        ("kraken", "ws", "load_markets", aiohttp.ServerDisconnectedError),
        ("okx", "ws", "load_markets", lambda: RuntimeError("Session is closed")),
    ],
)
async def test_foreign_exceptions_at_an_await_point_are_retried(
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    mode: str,
    method: str,
    error: Callable[[], Exception],
) -> None:
    metrics = Metrics()
    async with LocalExchange(kind, rate=20, symbols=symbols_for(kind)) as fake:
        cfg = settings(kind, fake.url, mode=mode)
        with faulty(monkeypatch, method, error, times=2):
            async with running(cfg, metrics) as sink:
                await sink.ticks_after(3)
    assert sample(metrics, "arbot_feed_errors_total", exchange=cfg.name, kind="network") == 2
    assert sample(metrics, "arbot_feed_restarts_total", exchange=cfg.name) == 0


async def test_a_reset_raised_through_the_capture_is_an_outage_with_a_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ccxt's ping loop rejects every pending watch with aiohttp's reset error; the capture
    hands it to the feed, which reconnects and records the gap."""
    metrics = Metrics()
    async with LocalExchange("binance", rate=20) as fake:
        cfg = settings("binance", fake.url)
        with faulty(monkeypatch, "load_markets", _reset, times=0) as built:
            async with running(cfg, metrics) as sink:
                await sink.ticks_after(3)
                (ws,) = built[0].clients.values()
                ws.on_error(_reset())
                await sink.wait(lambda: len(sink.gaps) == 1)
                await sink.ticks_after(2)
    (down,) = sink.downs
    assert down.reason == "ws network"
    assert fake.ws_accepted == 2
    assert sample(metrics, "arbot_feed_errors_total", exchange=cfg.name, kind="network") == 1


async def test_a_crash_of_our_own_code_restarts_the_feed_and_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug past every translation (here: in the emit path) ends one run of the feed; the
    supervisor counts it, reports the outage and restarts it with its state, so the first
    tick after the restart closes the gap."""
    metrics = Metrics()
    emit = Emitter.emit
    crashes = [1]

    async def crashing(self: Emitter, *args: Any, **kwargs: Any) -> None:
        if crashes[0] and self._outage.last_received is not None:
            crashes[0] -= 1
            raise RuntimeError("a bug")
        await emit(self, *args, **kwargs)

    monkeypatch.setattr(Emitter, "emit", crashing)
    async with LocalExchange("okx", rate=20) as fake:
        cfg = settings("okx", fake.url)
        async with running(cfg, metrics) as sink:
            await sink.ticks_after(2)
            await sink.wait(lambda: len(sink.gaps) == 1)
            await sink.ticks_after(2)
    assert sample(metrics, "arbot_feed_restarts_total", exchange=cfg.name) == 1
    assert sample(metrics, "arbot_feed_errors_total", exchange=cfg.name, kind="crash") == 1
    (down,) = sink.downs
    assert down.reason == "feed crash"
    (gap,) = sink.gaps
    assert gap.reason == "feed crash"
    assert fake.ws_accepted == 2


async def test_an_unresolvable_host_suggests_the_offline_demo_once() -> None:
    """No DNS answer (no internet, as `make run` meets it offline): the feed retries as for
    any outage, and says once that `make demo` runs without internet."""
    metrics = Metrics()
    cfg = settings("binance", "http://arbot-test.invalid", watch_timeout=0.3)
    with capture_logs() as logs:
        task = asyncio.create_task(run_feed(cfg, Sink().put, metrics))
        try:
            async with asyncio.timeout(20):
                while sum(e["event"] == "feed_error" for e in logs) < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    hints = [e for e in logs if e["event"] == "exchange_host_not_found"]
    assert len(hints) == 1 and "make demo" in hints[0]["hint"]
