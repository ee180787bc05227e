"""One target's delivery against a real local receiver through Apprise: the rate limit
folds a burst, a receiver that is down gets the queue when it returns (the rest counted),
failures are retried and logged once per change of state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from structlog.testing import capture_logs

from arbot.metrics import Metrics
from arbot.notify import messages
from arbot.notify.messages import Message
from arbot.notify.outlet import Outlet
from arbot.notify.targets import Target
from tests.helpers import sample
from tests.notify.conftest import MakeTarget, assert_no_secret
from tests.notify.servers import Receiver


def closed(n: int) -> Message:
    return Message("episode_closed", f"episode {n}", f"episode {n} closed", "info", time.time())


def counted(metrics: Metrics, target: str, event: str, result: str) -> float:
    return sample(metrics, "arbot_notifications_total", target=target, event=event, result=result)


@asynccontextmanager
async def running(target: Target, metrics: Metrics) -> AsyncIterator[Outlet]:
    outlet = Outlet(target, metrics)
    task = asyncio.create_task(outlet.run())
    try:
        yield outlet
    finally:
        task.cancel()


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polls what the receiver got
            await asyncio.sleep(0.02)


async def test_a_burst_of_50_episodes_folds_into_at_most_6_messages(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    target = make_target(receiver.url("json", "s3cr3t-hook-token"), rate_limit=5)
    metrics = Metrics()
    async with running(target, metrics) as outlet:
        for n in range(50):
            outlet.put(closed(n))
        await until(lambda: len(receiver.got) >= 6)
        await asyncio.sleep(1.5)  # nothing else comes
    assert len(receiver.got) == 6
    first, fold = [r.data for r in receiver.got[:5]], receiver.got[5].data
    assert [d["title"] for d in first] == [f"episode {n}" for n in range(5)]
    assert fold["event"] == "more" and fold["count"] == 45
    assert fold["title"] == "45 more in the last minute"
    assert fold["events"] == {"episode_closed": 45}
    name = target.name
    assert counted(metrics, name, "episode_closed", "delivered") == 5
    assert counted(metrics, name, "episode_closed", "folded") == 45
    assert counted(metrics, name, "more", "delivered") == 1


async def test_a_receiver_that_was_down_gets_the_queue_when_it_returns(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    """Up to queue_size messages wait (plus the one being retried); the rest are dropped
    and counted; all that waited arrive, in order, once the receiver is back."""
    url = receiver.url("json", "s3cr3t-hook-token")
    await receiver.stop()
    target = make_target(url, queue_size=20, rate_limit=1000)
    metrics = Metrics()
    with capture_logs() as logs:
        async with running(target, metrics) as outlet:
            for n in range(30):
                outlet.put(closed(n))
                await asyncio.sleep(0)  # the outlet takes the first one at once
            await asyncio.sleep(1.5)  # a retry or two fail
            await receiver.start()
            await until(lambda: len(receiver.got) == 21)
    assert [r.data["title"] for r in receiver.got] == [f"episode {n}" for n in range(21)]
    assert counted(metrics, target.name, "episode_closed", "dropped") == 9
    assert counted(metrics, target.name, "episode_closed", "delivered") == 21
    events = [e["event"] for e in logs if e["event"].startswith("notify_target")]
    assert events == ["notify_target_failing", "notify_target_recovered"]
    failing = next(e for e in logs if e["event"] == "notify_target_failing")
    assert failing["error"].startswith("json://127.0.0.1/***: A Connection error")
    assert_no_secret(str(logs))


async def test_a_500_is_retried_with_backoff_and_logged_once(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    receiver.mode = "fail"
    target = make_target(receiver.url("ntfy", "arbot-s3cr3t-topic"))
    metrics = Metrics()
    with capture_logs() as logs:
        async with running(target, metrics) as outlet:
            outlet.put(closed(1))
            # Retried after 1 s, then 2 s (and Apprise spaces ntfy requests 5.5 s apart).
            await until(lambda: receiver.failed >= 2, within=15)
            receiver.mode = "ok"
            await until(lambda: len(receiver.got) == 1, within=15)
    failing = [e for e in logs if e["event"] == "notify_target_failing"]
    assert len(failing) == 1 and "error=500" in failing[0]["error"]
    assert [e["event"] for e in logs][-1] == "notify_target_recovered"
    assert receiver.got[0].body["title"] == "episode 1"  # ntfy: plain text
    assert receiver.got[0].body["message"] == "episode 1 closed"
    assert_no_secret(str(logs))
    # Apprise's own records name topics and chat ids: they must never reach the daemon's log.
    assert logging.getLogger("apprise").propagate is False


async def test_a_message_older_than_max_age_is_given_up(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    receiver.mode = "fail"
    target = make_target(receiver.url("json", "s3cr3t-hook-token"), max_age=2.0)
    metrics = Metrics()
    async with running(target, metrics) as outlet:
        outlet.put(closed(1))
        await until(lambda: counted(metrics, target.name, "episode_closed", "failed") == 1)
        stale = Message("feed_up", "x", "y", "info", time.time() - 10)
        receiver.mode = "ok"
        outlet.put(stale)
        outlet.put(messages.feed_up("okx", time.time() - 5, time.time()))
        await until(lambda: len(receiver.got) == 1)
    assert receiver.got[0].data["exchange"] == "okx"
    assert counted(metrics, target.name, "feed_up", "failed") == 1
