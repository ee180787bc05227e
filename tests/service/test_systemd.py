"""The sd_notify client: datagrams on $NOTIFY_SOCKET, watchdog pings only while data flows."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from arbot.systemd import Notifier, keep_alive


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_messages_arrive_as_one_datagram_each(listener: tuple[str, socket.socket]) -> None:
    """READY=1 and STATUS= sent together arrive as one newline-separated datagram."""
    path, sock = listener
    notifier = Notifier(path)
    notifier.notify("READY=1", "STATUS=started")
    notifier.notify("STOPPING=1")
    assert sock.recv(4096) == b"READY=1\nSTATUS=started"
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_abstract_socket_name() -> None:
    """A NOTIFY_SOCKET starting with '@' names a socket in the abstract namespace."""
    name = f"arbot-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        notifier.notify("READY=1")
        assert sock.recv(4096) == b"READY=1"
        notifier.close()


def test_nothing_is_sent_without_notify_socket() -> None:
    """Outside systemd the notifier is disabled and notify() is a no-op."""
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    notifier.notify("READY=1")


def test_watchdog_interval_is_half_the_period_and_only_for_our_pid() -> None:
    """WATCHDOG_USEC gives the period; a WATCHDOG_PID of another process disables it."""
    ours = Notifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"})
    assert ours.watchdog_interval == 15.0
    pid = str(os.getpid())
    same = Notifier.from_environ(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}
    )
    assert same.watchdog_interval == 15.0
    other = Notifier.from_environ(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog_interval is None


def test_a_failing_send_is_logged_not_raised(tmp_path: Path) -> None:
    """A vanished socket must not take the daemon down; the failure is logged."""
    notifier = Notifier(str(tmp_path / "missing.sock"))
    with capture_logs() as logs:
        notifier.notify("READY=1")
    assert logs[0]["event"] == "systemd_notify_failed"
    notifier.close()


async def test_watchdog_pings_only_while_nothing_is_stuck(
    listener: tuple[str, socket.socket],
) -> None:
    """keep_alive sends WATCHDOG=1 with STATUS= while stuck() finds nothing, and STATUS=
    with the reason alone (one error line) while it finds something; pings resume after."""
    path, sock = listener
    sock.setblocking(False)
    notifier = Notifier(path, watchdog_usec=20_000)  # a ping every 10 ms
    stuck: str | None = None
    loop = asyncio.get_running_loop()

    async def next_message() -> bytes:
        return await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)

    with capture_logs() as logged:
        task = asyncio.create_task(keep_alive(notifier, lambda: stuck, lambda: "ticks 5/s"))
        try:
            assert await next_message() == b"WATCHDOG=1\nSTATUS=ticks 5/s"
            stuck = "writer wedged"
            # Messages already in flight may still carry a ping; then only STATUS= arrives.
            while (await next_message()).startswith(b"WATCHDOG=1"):
                pass
            for _ in range(5):
                assert await next_message() == b"STATUS=stuck: writer wedged"
            stuck = None
            while not (await next_message()).startswith(b"WATCHDOG=1"):
                pass
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            notifier.close()
    assert [e["event"] for e in logged] == ["watchdog_withheld", "watchdog_resumed"]


async def test_status_follows_within_the_status_interval_not_the_watchdog_period(
    listener: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the unit's 60 s watchdog (a ping every 30 s), a feed going down showed in
    `systemctl status` up to 30 s late: STATUS= now follows every STATUS_INTERVAL, pings
    keep their own period."""
    monkeypatch.setattr("arbot.systemd.STATUS_INTERVAL", 0.01)
    path, sock = listener
    sock.setblocking(False)
    notifier = Notifier(path, watchdog_usec=60_000_000)
    line = ["feeds live 3/3"]
    loop = asyncio.get_running_loop()

    async def next_message() -> bytes:
        return await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)

    task = asyncio.create_task(keep_alive(notifier, lambda: None, lambda: line[0]))
    try:
        assert await next_message() == b"WATCHDOG=1\nSTATUS=feeds live 3/3"
        line[0] = "feeds live 2/3"
        while (message := await next_message()) != b"STATUS=feeds live 2/3":
            assert message == b"STATUS=feeds live 3/3"  # no second ping within 30 s
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        notifier.close()
