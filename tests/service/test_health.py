"""FlowMonitor: data flows when a tick arrived and a batch committed within the window."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from arbot.health import FlowMonitor, heartbeat
from arbot.models import Tick


def tick(exchange: str, received: float) -> Tick:
    return Tick(exchange, "BTC/USDT", 100.0, 101.0, 1.0, 1.0, received, received)


class Counters:
    def __init__(self) -> None:
        self.accepted = 0
        self.committed = 0


def monitor(counters: Counters, started: float = 1000.0) -> FlowMonitor:
    return FlowMonitor(
        ["binance", "okx"],
        accepted=lambda: counters.accepted,
        committed=lambda: counters.committed,
        started=started,
    )


def test_flows_only_with_recent_ticks_and_commits() -> None:
    """Ticks without commits (a stuck writer) or commits without ticks do not count."""
    c = Counters()
    m = monitor(c)
    assert not m.check(1001.0, 30).flowing
    m.on_item(tick("binance", 1001.0))
    flow = m.check(1002.0, 30)
    assert not flow.flowing and "committed" in flow.reason
    c.committed = 10
    assert m.check(1003.0, 30).flowing
    # 40 s later nothing new arrived: stale.
    flow = m.check(1043.0, 30)
    assert not flow.flowing and "no tick" in flow.reason


def test_one_live_exchange_is_enough() -> None:
    """okx silent, binance flowing: still flowing."""
    c = Counters()
    m = monitor(c)
    m.on_item(tick("okx", 1001.0))
    for t in range(1002, 1100, 5):
        m.on_item(tick("binance", float(t)))
        c.committed += 1
        assert m.check(float(t), 30).flowing


def test_start_up_grace_counts_the_start_as_activity() -> None:
    """With grace, a just-started daemon (no tick yet) counts as flowing for one window."""
    m = monitor(Counters())
    assert m.check(1010.0, 30, grace=True).flowing
    assert not m.check(1031.0, 30, grace=True).flowing
    assert not m.check(1010.0, 30).flowing


def test_status_reports_rates_and_live_feeds() -> None:
    """STATUS= line: rates over the last sample interval and feeds heard from lately."""
    c = Counters()
    m = monitor(c)
    m.sample(1000.0)
    c.accepted, c.committed = 200, 150
    m.on_item(tick("binance", 1001.5))
    assert m.status(1002.0) == "ticks 100/s accepted, 75/s committed; feeds live 1/2"


async def test_heartbeat_reports_rates_over_its_interval() -> None:
    """Each heartbeat line gives the rates since the previous one, queue depth and feeds up."""
    c = Counters()
    m = monitor(c)
    now = [1000.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        c.accepted += 600
        c.committed += 300
        m.on_item(tick("binance", now[0] - 1))
        if now[0] >= 1120:
            raise TimeoutError

    with capture_logs() as logged, pytest.raises(TimeoutError):
        await heartbeat(m, lambda: 7, 60.0, lambda: now[0], sleep)
    assert logged == [
        {
            "event": "heartbeat",
            "log_level": "info",
            "component": "heartbeat",
            "ticks_per_second": 10.0,
            "commits_per_second": 5.0,
            "queue_depth": 7,
            "feeds_up": 1,
            "feeds": 2,
        }
    ]
