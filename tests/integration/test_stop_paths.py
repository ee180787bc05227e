"""Stopping when the drain cannot finish (the database is locked by someone else): the
grace timeout ends it with exit 1, and a second SIGTERM ends it at once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from arbot.localmarket import LocalExchange
from tests.integration.process import DaemonProcess, eventually, eventually_scraped
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import metric

pytestmark = pytest.mark.integration


@pytest.fixture
async def fake() -> AsyncIterator[LocalExchange]:
    async with LocalExchange("binance", rate=10) as ex:
        yield ex


@contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Hold arbot.db's write lock from another connection (readers still work in WAL)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def started_daemon(tmp_path: Path, fake: LocalExchange, grace: float) -> DaemonProcess:
    port = free_port()
    doc = daemon_doc(
        tmp_path / "data",
        [exchange("binance", fake.kind, fake.url, mode="ws")],
        port,
        service={"grace_timeout": grace},
    )
    return await DaemonProcess.start(write_config(tmp_path / "arbot.toml", doc), port, {})


async def run_until_stopping(daemon: DaemonProcess, data_dir: Path, signals: int) -> int:
    """Let ticks commit, lock the database, send `signals` SIGTERMs; the exit code."""
    async with asyncio.TaskGroup() as tg:
        reader = tg.create_task(daemon.read_logs())
        await eventually_scraped(daemon, lambda s: metric(s, "arbot_ticks_committed_total") > 0)
        with write_locked(data_dir / "arbot.db"):
            await eventually(lambda: daemon.find("batch_write_failed"), daemon.tail)
            daemon.terminate()
            await eventually(lambda: daemon.find("daemon_stopping"), daemon.tail)
            if signals == 2:
                daemon.terminate()
            code = await daemon.wait(within=30)
        reader.cancel()
    return code


async def test_drain_longer_than_grace_timeout_exits_1(tmp_path: Path, fake: LocalExchange) -> None:
    """A writer stuck on a locked database cannot commit: after service.grace_timeout the
    daemon gives up, says so, and exits 1 (the WAL keeps the file consistent)."""
    daemon = await started_daemon(tmp_path, fake, grace=1.5)
    try:
        assert await run_until_stopping(daemon, tmp_path / "data", signals=1) == 1
    finally:
        await daemon.reap()
    (timeout,) = daemon.find("drain_timeout")
    assert timeout["grace_timeout"] == 1.5
    assert daemon.find("daemon_stopped")[-1]["exit_code"] == 1


async def test_second_sigterm_forces_exit(tmp_path: Path, fake: LocalExchange) -> None:
    """During a drain that would take up to 60 s, a second SIGTERM exits at once."""
    daemon = await started_daemon(tmp_path, fake, grace=60.0)
    try:
        assert await run_until_stopping(daemon, tmp_path / "data", signals=2) == 1
    finally:
        await daemon.reap()
    assert daemon.find("forced_exit")
    assert not daemon.find("daemon_stopped")
