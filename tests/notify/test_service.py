"""The daemon's notifier as a whole: `offer` never waits (a full inbox counts drops), feed
and storage trouble come from polling, closed episodes carry their paper result, the
daily summary, and reload adding, changing and removing targets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from arbot.feeds.status import FeedStatus
from arbot.metrics import Metrics
from arbot.models import ExecutionData, TradeParams
from arbot.notify import service
from arbot.notify.service import Notifications
from arbot.notify.targets import Target
from arbot.records import SignalFound, TradeOpened, TradeSettled
from arbot.settings import NotifyTarget
from tests.helpers import sample
from tests.notify.conftest import MakeTarget, assert_no_secret
from tests.notify.servers import Receiver
from tests.notify.test_route import episode, signal


@pytest.fixture(autouse=True)
def _fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "POLL", 0.05)


@asynccontextmanager
async def running(
    targets: Sequence[Target], storage_after: float = 10.0
) -> AsyncIterator[Notifications]:
    notes = Notifications(targets, Metrics(), storage_after=storage_after)
    task = asyncio.create_task(notes.run())
    try:
        yield notes
    finally:
        task.cancel()


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polls what the receiver got
            await asyncio.sleep(0.02)


def titles(r: Receiver) -> list[str]:
    return [g.data["title"] for g in r.got]


async def test_offer_never_waits_and_a_full_inbox_counts_drops(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    metrics = Metrics()
    notes = Notifications([make_target(receiver.url("json", "s3cr3t-hook-token"))], metrics)
    records = [SignalFound(i, signal(key=str(i))) for i in range(service.INBOX + 5)]
    start = time.perf_counter()
    notes.offer(records)  # not running: nothing takes from the inbox
    assert time.perf_counter() - start < 0.5
    dropped = sample(
        metrics, "arbot_notifications_total", target="all", event="opportunity", result="dropped"
    )
    assert dropped == 5


async def test_storage_trouble_and_recovery_are_told_once(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    target = make_target(receiver.url("json", "s3cr3t-hook-token"), events=["storage"])
    state: list[tuple[float, str] | None] = [(4.0, "locked: database is locked")]
    async with running([target], storage_after=10.0) as notes:
        notes.watch({}, lambda: state[0])
        await asyncio.sleep(0.3)  # retrying, but not for storage_after yet
        state[0] = (12.0, "locked: database is locked")
        await until(lambda: len(receiver.got) == 1)
        await asyncio.sleep(0.3)  # still failing: told once
        state[0] = None
        await until(lambda: len(receiver.got) == 2)
    trouble, ok = (g.data for g in receiver.got)
    assert trouble["title"] == "storage not committing" and trouble["seconds"] == 12.0
    assert trouble["error"] == "locked: database is locked"
    assert ok["title"] == "storage recovered" and ok["state"] == "ok"


async def test_a_feed_down_then_back_is_told_from_the_flow_monitor(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    target = make_target(receiver.url("json", "s3cr3t-hook-token"), feed_down_after=0.2)
    okx = FeedStatus("okx", time.time() - 60, last_tick=time.time())
    async with running([target]) as notes:
        notes.watch({"okx": okx}, lambda: None)
        await asyncio.sleep(0.2)
        okx.down, okx.error_kind, okx.error_message = True, "network", "connection reset"
        await until(lambda: len(receiver.got) == 1)
        okx.down = False
        await until(lambda: len(receiver.got) == 2)
    assert titles(receiver) == ["okx feed down", "okx feed back"]
    assert receiver.got[0].data["reason"] == "network: connection reset"


async def test_a_closed_episode_carries_its_paper_result_and_the_day_is_summed_up(
    receiver: Receiver, make_target: MakeTarget
) -> None:
    target = make_target(receiver.url("json", "s3cr3t-hook-token"))
    trade = TradeParams(7, "BTC/USDT", "kraken", "okx", 100.0, 100.5, 1.0, 0.4)
    async with running([target]) as notes:
        notes.watch({"okx": FeedStatus("okx", time.time(), last_tick=time.time())}, lambda: None)
        await asyncio.sleep(0.2)  # a few polls: okx up
        notes.offer([SignalFound(7, signal()), TradeOpened(3, trade)])
        notes.offer([TradeSettled(3, ExecutionData("completed", actual_profit=0.35))])
        notes.offer([episode()])
        await until(lambda: len(receiver.got) == 2)
        notes.daily_summary(86_400.0 * 20_000)
        await until(lambda: len(receiver.got) == 3)
    opened, closed, summary = (g.data for g in receiver.got)
    assert opened["id"] == 7 and opened["profit_percent"] == 0.4
    assert closed["paper"] == {"trades": 1, "completed": 1, "profit": 0.35, "pending": 0}
    assert closed["text"].endswith("\npaper: 1 trades, 1 filled, +0.3500 USDT")
    assert summary["title"] == "ArBot 2024-10-03 (UTC)"
    assert (summary["signals"], summary["episodes"], summary["paper_trades"]) == (1, 1, 1)
    assert summary["paper_profit"] == {"USDT": 0.35}
    assert summary["uptime_percent"] == {"okx": 100.0}


async def test_reload_adds_changes_and_removes_targets(
    tmp_path: Path, make_target: MakeTarget
) -> None:
    a, b = await Receiver().start(), await Receiver().start()
    try:
        first = make_target(a.url("json", "s3cr3t-hook-token"), name="a")
        async with running([first]) as notes:
            path = tmp_path / "b.urls"
            path.write_text(b.url("json", "s3cr3t-hook-token") + "\n")
            path.chmod(0o600)
            file = first.settings.urls_file
            again = NotifyTarget(name="a", urls_file=file, min_profit_percent=1.0)
            added = NotifyTarget(name="b", urls_file=path)
            applied = notes.reload([again, added], ["notify.a.min_profit_percent", "logging.x"])
            assert applied == {"notify.a.min_profit_percent"}
            notes.offer([SignalFound(1, signal(key="x"))])  # 0.4 %: below a's new 1.0 %
            await until(lambda: len(b.got) == 1)
            notes.reload([added], ["notify"])
            notes.offer([SignalFound(2, signal(key="y", profit_percent=2.0))])
            await until(lambda: len(b.got) == 2)
            path.chmod(0o644)
            with capture_logs() as logs:
                assert notes.reload([added, again], ["notify"]) == set()
            notes.offer([SignalFound(3, signal(key="z"))])
            await until(lambda: len(b.got) == 3)
        assert a.got == []
        [failed] = [e for e in logs if e["event"] == "notify_reload_failed"]
        assert failed["error"].startswith(f"{path}: mode 0644") and failed["kept"]
        assert_no_secret(str(logs))
    finally:
        await a.stop()
        await b.stop()
