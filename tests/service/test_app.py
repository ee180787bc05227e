"""run_daemon in-process with a stop trigger: start-up checks, exit codes, the drain."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from arbot.app import run_daemon
from arbot.errors import EXIT_DATABASE, EXIT_EXCHANGE
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from arbot.settings import Settings, parse_settings
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.version import version

KINDS = ("binance", "okx", "kraken")


def daemon_settings(data_dir: Path, fakes: dict[str, LocalExchange], **exchange: Any) -> Settings:
    """Settings pointing one exchange per fake at it; `exchange` overrides every entry."""
    return parse_settings(
        {
            "storage": {"data_dir": str(data_dir), "linger_ms": 50, "batch_size": 200},
            "exchanges": [
                {
                    "id": fake.kind,
                    "name": name,
                    "symbols": ["BTC/USDT", "ETH/USDT"],
                    "url_override": fake.url,
                    "watch_timeout": 5.0,
                    "ccxt_config": {"enableRateLimit": False},
                    **exchange,
                }
                for name, fake in fakes.items()
            ],
            "metrics": {"enabled": False},
            "retention": {"enabled": False},
            "backup": {"enabled": False},
            "service": {"grace_timeout": 10.0},
        },
        "test",
    )


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, LocalExchange]]:
    async with AsyncExitStack() as stack:
        yield {
            kind: await stack.enter_async_context(LocalExchange(kind, rate=5, seed=i))
            for i, kind in enumerate(KINDS)
        }


def received(metrics: Metrics, exchange: str) -> float:
    value = metrics.registry.get_sample_value("arbot_ticks_received_total", {"exchange": exchange})
    return value or 0.0


def counts(metrics: Metrics, fakes: dict[str, LocalExchange]) -> dict[str, float]:
    return {name: received(metrics, name) for name in fakes}


def sent_by(fakes: dict[str, LocalExchange]) -> dict[str, int]:
    return {name: sum(fake.sent.values()) for name, fake in fakes.items()}


async def wait_for(
    predicate: Callable[[], bool], what: Callable[[], str], within: float = 30.0
) -> None:
    """Poll `predicate`; on timeout fail with `what()` describing the state then."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110  (polls counters: no event to await)
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what()}") from None


def stored_per_exchange(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "arbot.db") as conn:
        rows = conn.execute(
            "SELECT e.name, count(*) FROM ticks t JOIN exchanges e ON e.id = t.exchange_id "
            "GROUP BY e.name"
        ).fetchall()
    return dict(rows)


async def test_every_sent_tick_is_stored_once_and_stop_drains(
    tmp_path: Path, fakes: dict[str, LocalExchange]
) -> None:
    """Three fakes publish, then go quiet; after the stop trigger every quote they sent is
    a row of arbot.db exactly once, and the final log line has accepted == committed."""
    data_dir = tmp_path / "data"
    metrics = Metrics()
    stop = asyncio.Event()
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as tg:
            daemon = tg.create_task(
                run_daemon(daemon_settings(data_dir, fakes), stop.wait(), metrics)
            )
            await wait_for(
                lambda: all(received(metrics, name) >= 10 for name in fakes),
                lambda: f"10 ticks from each fake: {counts(metrics, fakes)}",
            )
            for fake in fakes.values():
                fake.faults.silent = True
            # fake.sent is read at each poll: a frame in flight when silence began still
            # counts once its send completes.
            await wait_for(
                lambda: counts(metrics, fakes) == sent_by(fakes),
                lambda: f"received {counts(metrics, fakes)} == sent {sent_by(fakes)}",
            )
            stop.set()
        assert daemon.result() == 0
    sent = sent_by(fakes)
    assert stored_per_exchange(data_dir) == sent
    final = logs[-1]
    assert final["event"] == "daemon_stopped"
    [started] = [e for e in logs if e["event"] == "daemon_started"]
    assert started["version"] == version()
    assert final["ticks_accepted"] == final["ticks_committed"] == sum(sent.values())


async def test_unlisted_symbol_stops_with_exit_5_naming_it(
    tmp_path: Path, fakes: dict[str, LocalExchange]
) -> None:
    """A symbol the exchange does not list is an operator error: exit 5, message names it."""
    settings = daemon_settings(tmp_path / "data", {"okx": fakes["okx"]}, symbols=["DOGE/USDT"])
    with capture_logs() as logs:
        code = await run_daemon(settings, asyncio.Event().wait(), Metrics())
    assert code == EXIT_EXCHANGE
    failed = [e for e in logs if e["event"] == "daemon_failed"]
    assert "DOGE/USDT" in failed[0]["error"] and "okx" in failed[0]["error"]
    # One final line with the real exit code, not daemon_stopped exit_code=0 before it.
    assert logs[-1] is failed[0] and failed[0]["exit_code"] == EXIT_EXCHANGE
    assert not [e for e in logs if e["event"] == "daemon_stopped"]


async def test_foreign_database_file_exits_4_untouched(tmp_path: Path) -> None:
    """A non-SQLite arbot.db stops start-up with exit 4 and is left as it was."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    junk = b"not a database, " * 100
    (data_dir / "arbot.db").write_bytes(junk)
    fake = {"binance": LocalExchange("binance")}  # never started: no feed may run
    with capture_logs() as logs:
        code = await run_daemon(daemon_settings(data_dir, fake), asyncio.Event().wait())
    assert code == EXIT_DATABASE
    assert "arbot.db: not an SQLite database" in logs[-1]["error"]
    assert (data_dir / "arbot.db").read_bytes() == junk


async def test_second_daemon_on_one_data_dir_exits_4(tmp_path: Path) -> None:
    """The daemon lock is taken before any database is touched."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fake = {"binance": LocalExchange("binance")}
    with acquire_daemon_lock(data_dir), capture_logs() as logs:
        code = await run_daemon(daemon_settings(data_dir, fake), asyncio.Event().wait())
    assert code == EXIT_DATABASE
    assert "held by a running arbot process" in logs[-1]["error"]
    assert not (data_dir / "arbot.db").exists()


async def test_a_crashing_task_stops_the_daemon_with_exit_1(
    tmp_path: Path, fakes: dict[str, LocalExchange]
) -> None:
    """A bug in any owned task surfaces: every task is cancelled, the traceback is logged
    as one event and the exit code is 1 (systemd restarts the service)."""

    async def crash() -> None:
        await asyncio.sleep(0.5)
        raise RuntimeError("boom in a task")

    settings = daemon_settings(tmp_path / "data", {"okx": fakes["okx"]})
    with capture_logs() as logs:
        code = await run_daemon(settings, crash(), Metrics())
    assert code == 1
    crashed = [e for e in logs if e["event"] == "daemon_crashed"]
    assert crashed and crashed[0]["log_level"] == "error"
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("feed-")] == []
