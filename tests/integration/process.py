"""The real daemon as a child process, observed from an asyncio test (the fake exchanges
run in the test's own loop, so nothing here may block): its JSON log lines, its systemd
notifications on a socket the test owns, its /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.reliability.daemon import Samples, parse_metrics

ARBOT = str(Path(sys.executable).with_name("arbot"))


async def eventually(
    predicate: Callable[[], object], what: Callable[[], str], within: float = 30.0
) -> Any:
    """Poll `predicate` until truthy; fail with `what()` (the state at the deadline)."""
    try:
        async with asyncio.timeout(within):
            # Polling: the state lives in counters and another process, no event to await.
            while not (value := predicate()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            return value
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what()}") from None


class NotifyListener:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET; keeps every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)

    async def collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.messages.append((await loop.sock_recv(self._sock, 65536)).decode())

    def close(self) -> None:
        self._sock.close()

    def has(self, field: str, since: int = 0) -> bool:
        return any(field in m.split("\n") for m in self.messages[since:])


class DaemonProcess:
    """`arbot run --config PATH` with its stderr parsed as JSON log events."""

    def __init__(self, proc: asyncio.subprocess.Process, metrics_port: int) -> None:
        self.proc = proc
        self.metrics_port = metrics_port
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, config: Path, metrics_port: int, env: dict[str, str]) -> DaemonProcess:
        proc = await asyncio.create_subprocess_exec(
            ARBOT,
            "run",
            "--config",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        return cls(proc, metrics_port)

    async def read_logs(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            with contextlib.suppress(ValueError):  # a non-JSON line (a traceback) stays text
                self.events.append(json.loads(line))

    def find(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    async def scrape(self) -> tuple[str, Samples]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            text = await resp.text()
        return text, parse_metrics(text)

    async def health(self) -> tuple[int, str]:
        """GET /healthz: (status, reason)."""
        url = f"http://127.0.0.1:{self.metrics_port}/healthz"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            body = await resp.json()
        return resp.status, body["reason"] if resp.status != 200 else body["status"]

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def wait(self, within: float = 30.0) -> int:
        async with asyncio.timeout(within):
            return await self.proc.wait()

    async def reap(self) -> None:
        """Kill the process if it still runs (a failed test) and collect its exit."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.lines[-n:])


async def eventually_scraped(
    daemon: DaemonProcess, predicate: Callable[[Samples], object], within: float = 30.0
) -> tuple[str, Samples]:
    """Scrape until `predicate(samples)` holds; returns the last scrape."""
    last: list[tuple[str, Samples]] = []

    async def check() -> bool:
        try:
            last[:] = [await daemon.scrape()]
        except aiohttp.ClientError:  # not listening yet
            return False
        return bool(predicate(last[0][1]))

    try:
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110  (state of another process)
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"metrics never matched; daemon log:\n{daemon.tail()}") from None
    return last[0]
