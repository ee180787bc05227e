"""The watchdog means "stuck", not "no data": the real daemon in-process with a real
NOTIFY_SOCKET listener keeps pinging while every exchange is unreachable, and stops while
the writer cannot commit the work waiting for it."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from arbot.app import run_daemon
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from arbot.settings import Settings, parse_settings
from arbot.systemd import Notifier
from tests.service.test_app import wait_for

PING_USEC = 200_000  # WATCHDOG_USEC: a ping (or STATUS=) every 0.1 s


class Listener:
    """The service manager's end: a unix datagram socket collecting notify messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    async def wait(self, predicate: str, since: int = 0, within: float = 30.0) -> int:
        """Index of the first message from `since` containing `predicate`."""

        def found() -> bool:
            return any(predicate in m for m in self.drain()[since:])

        await wait_for(found, lambda: f"{predicate!r} in {self.messages[-5:]}", within)
        return next(i for i in range(since, len(self.messages)) if predicate in self.messages[i])


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    listener = Listener(tmp_path / "notify.sock")
    yield listener
    listener.sock.close()


def settings(data_dir: Path, urls: dict[str, str], **storage: object) -> Settings:
    return parse_settings(
        {
            "storage": {"data_dir": str(data_dir), "linger_ms": 20, **storage},
            "exchanges": [
                {
                    "id": kind,
                    "name": kind,
                    "symbols": ["BTC/USDT"],
                    "url_override": url,
                    "watch_timeout": 1.0,
                    "poll_interval": 0.2,
                    "ccxt_config": {"enableRateLimit": False},
                }
                for kind, url in urls.items()
            ],
            "metrics": {"enabled": False},
            "retention": {"enabled": False},
            "backup": {"enabled": False},
            "service": {"grace_timeout": 10.0, "flow_window": 0.5},
        },
        "test",
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[int]]]:
    tasks: list[asyncio.Task[int]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_all_exchanges_down_keeps_the_watchdog_fed(
    tmp_path: Path, listener: Listener, running: list[asyncio.Task[int]]
) -> None:
    """Nothing listens at any exchange's address: pings continue well past flow_window and
    STATUS= says no exchange delivers; the stop is clean."""
    urls = {kind: f"http://127.0.0.1:{closed_port()}" for kind in ("binance", "okx")}
    stop = asyncio.Event()
    notifier = Notifier(str(listener.path), PING_USEC)
    daemon = asyncio.create_task(
        run_daemon(settings(tmp_path / "data", urls), stop.wait(), Metrics(), notifier=notifier)
    )
    running.append(daemon)
    first = await listener.wait("no exchange delivering")
    await listener.wait("", since=first + 15)  # 1.5 s: three flow windows
    after = listener.messages[first : first + 15]
    assert all(m.startswith("WATCHDOG=1\nSTATUS=no exchange delivering, retrying (") for m in after)
    stop.set()
    assert await daemon == 0


async def test_a_writer_stuck_in_a_write_stops_the_pings(
    tmp_path: Path, listener: Listener, running: list[asyncio.Task[int]]
) -> None:
    """Another connection holds arbot.db's write lock and the writer's busy timeout is
    longer than the test, so its write attempt does not end: after flow_window the pings
    stop (STATUS= names the wedged writer, one error line); the lock released, they resume,
    and every accepted tick is committed at the stop. (A writer whose attempts fail and are
    retried is not wedged: see the next test.)"""
    data_dir = tmp_path / "data"
    stop = asyncio.Event()
    metrics = Metrics()
    notifier = Notifier(str(listener.path), PING_USEC)
    async with LocalExchange("binance", rate=20) as fake:
        cfg = settings(data_dir, {"binance": fake.url}, busy_timeout_ms=600_000)
        with capture_logs() as logged:
            daemon = asyncio.create_task(run_daemon(cfg, stop.wait(), metrics, notifier=notifier))
            running.append(daemon)
            await listener.wait("feeds live 1/1")
            blocker = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")
                wedged = await listener.wait("STATUS=stuck: writer wedged")
                assert not listener.messages[wedged].startswith("WATCHDOG=1")
                await listener.wait("", since=wedged + 5)
                assert not any("WATCHDOG=1" in m for m in listener.messages[wedged : wedged + 5])
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            await listener.wait("WATCHDOG=1", since=wedged)
            stop.set()
            assert await daemon == 0
    events = [e["event"] for e in logged]
    assert events.count("watchdog_withheld") == 1 and "watchdog_resumed" in events
    final = next(e for e in logged if e["event"] == "daemon_stopped")
    assert final["ticks_accepted"] == final["ticks_committed"] > 0


async def test_a_writer_retrying_a_locked_database_is_not_stuck(
    tmp_path: Path, listener: Listener, running: list[asyncio.Task[int]]
) -> None:
    """Another connection holds arbot.db's write lock; the writer's attempts fail fast and
    are retried: that is the environment, not the daemon, so the pings go on (a restart
    would only lose the backlog), and every accepted tick is committed at the stop."""
    data_dir = tmp_path / "data"
    stop = asyncio.Event()
    notifier = Notifier(str(listener.path), PING_USEC)
    async with LocalExchange("binance", rate=20) as fake:
        cfg = settings(data_dir, {"binance": fake.url}, busy_timeout_ms=10, retry_max_seconds=0.1)
        with capture_logs() as logged:
            daemon = asyncio.create_task(run_daemon(cfg, stop.wait(), Metrics(), notifier=notifier))
            running.append(daemon)
            await listener.wait("feeds live 1/1")
            blocker = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")
                start = len(listener.messages)
                await listener.wait("", since=start + 15)  # 1.5 s: three flow windows
                assert all("WATCHDOG=1" in m for m in listener.messages[start : start + 15])
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            stop.set()
            assert await daemon == 0
    events = [e["event"] for e in logged]
    assert "watchdog_withheld" not in events and "batch_write_failed" in events
    final = next(e for e in logged if e["event"] == "daemon_stopped")
    assert final["ticks_accepted"] == final["ticks_committed"] > 0
