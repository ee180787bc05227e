"""FlowMonitor: data flows when a tick arrived and a batch committed within the window."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from arbot.health import FlowMonitor, heartbeat
from arbot.models import FeedDown, FeedGap, Tick


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


def test_feed_states_and_error_report() -> None:
    """Never delivered: down, its tick age counted from start; ticking: up; an error within
    the window: degraded with the error's kind and message; FeedDown: down; FeedGap: up."""
    m = monitor(Counters())
    okx = m.feeds["okx"]
    assert okx.report(1012.0, 30) == {
        "state": "down",
        "seconds_since_last_tick": 12.0,
        "last_error": None,
    }
    m.on_item(tick("okx", 1013.0))
    assert okx.state(1014.0, 30) == "up"
    okx.failed(1015.0, "malformed", "BadResponse: <html>")
    assert okx.report(1016.0, 30)["last_error"] == {
        "kind": "malformed",
        "message": "BadResponse: <html>",
        "seconds_ago": 1.0,
    }
    assert okx.state(1016.0, 30) == "degraded"
    m.on_item(FeedDown("okx", 1017.0, "data malformed"))
    assert okx.state(1018.0, 30) == "down"
    m.on_item(FeedGap("okx", 1013.0, 1050.0, "data malformed"))
    m.on_item(tick("okx", 1050.0))
    assert okx.state(1051.0, 30) == "up"  # the error is older than the window


def test_healthz_policy_counts_feeds_up() -> None:
    """Data flows with one of two feeds up: healthy and "degraded" under min_feeds_up = 1,
    unhealthy (naming the count) under 2; "ok" once both are up."""
    c = Counters()
    m = monitor(c)
    m.on_item(tick("binance", 1001.0))
    c.committed = 5
    healthy, body = m.health(1002.0, 30, 1)
    assert healthy and body["status"] == "degraded" and body["feeds_up"] == 1
    assert body["feeds"]["okx"]["state"] == "down"
    healthy, body = m.health(1002.0, 30, 2)
    assert not healthy and body["reason"] == "1 of 2 feeds up, 2 required"
    m.on_item(tick("okx", 1002.0))
    healthy, body = m.health(1003.0, 30, 2)
    assert healthy and body["status"] == "ok"


def test_healthz_is_degraded_while_the_writer_retries_past_the_limit() -> None:
    """A writer retrying a batch makes /healthz "degraded" with the cause once it has
    failed for longer than storage_after, long before data stops flowing (healthy_after);
    when it also stops flowing the cause is in the unhealthy reason."""
    c = Counters()
    retrying: list[tuple[float, str] | None] = [None]
    m = FlowMonitor(
        ["binance"],
        accepted=lambda: c.accepted,
        committed=lambda: c.committed,
        started=1000.0,
        storage=lambda: retrying[0],
    )
    m.on_item(tick("binance", 1001.0))
    c.committed = 5
    healthy, body = m.health(1002.0, 60, 1, storage_after=10)
    assert healthy and body["status"] == "ok" and body["storage"] == {"state": "ok"}
    retrying[0] = (9.5, "locked: database is locked")
    assert m.health(1002.0, 60, 1, storage_after=10)[1]["status"] == "ok"  # not yet
    retrying[0] = (12.0, "locked: database is locked")
    healthy, body = m.health(1002.0, 60, 1, storage_after=10)
    assert healthy and body["status"] == "degraded"
    assert body["reason"] == (
        "storage not committing for 12 s, retrying (locked: database is locked)"
    )
    assert body["storage"] == {
        "state": "retrying",
        "seconds": 12.0,
        "last_error": "locked: database is locked",
    }
    m.on_item(tick("binance", 1070.0))
    healthy, body = m.health(1070.0, 60, 1, storage_after=10)
    assert not healthy and body["status"] == "unhealthy"
    assert body["reason"].endswith("the writer is retrying (locked: database is locked)")
    retrying[0] = None
    c.committed = 9
    assert m.health(1071.0, 60, 1, storage_after=10)[1]["status"] == "ok"


def test_stuck_means_a_wedged_writer_or_a_silent_supervisor() -> None:
    """Work waiting without a commit for the window is a wedged writer; all feeds failing
    while retrying on schedule is not stuck; a supervisor neither answering nor sleeping in
    a retry past its limit is."""
    c = Counters()
    waiting = [0]
    full = [False]
    m = FlowMonitor(
        ["binance", "okx"],
        accepted=lambda: c.accepted,
        committed=lambda: c.committed,
        started=1000.0,
        waiting=lambda: waiting[0],
        queue_full=lambda: full[0],
    )
    for feed in m.feeds.values():
        feed.stuck_after = 120.0
    # Every exchange failing, each retry scheduled: unhealthy but not stuck.
    for t in range(1000, 1400, 20):
        for feed in m.feeds.values():
            feed.failed(float(t), "unavailable", "ExchangeNotAvailable")
            feed.retrying(t + 20.0)
        assert m.stuck(float(t), 30) is None
    assert m.status(1400.0).startswith("no exchange delivering, retrying (binance: unavailable")
    # Work waits; commits keep coming: fine. Commits stop: wedged after the window.
    waiting[0] = 50
    m.feeds["binance"].answered(1400.0)
    m.feeds["okx"].answered(1400.0)
    c.committed = 10
    assert m.stuck(1400.0, 30) is None
    assert m.stuck(1420.0, 30) is None
    reason = m.stuck(1431.0, 30)
    assert reason is not None and reason.startswith("writer wedged")
    c.committed = 20
    assert m.stuck(1432.0, 30) is None
    # okx's supervisor goes silent (no answer, no retry scheduled) beyond stuck_after...
    waiting[0] = 0
    m.feeds["binance"].answered(1530.0)
    assert m.stuck(1530.0, 30) == "feed supervisor not progressing: okx"
    # ... unless the queue is full: then it waits on back-pressure, not stuck.
    full[0] = True
    assert m.stuck(1530.0, 30) is None
