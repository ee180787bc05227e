"""The real daemon process (`arbot run`) against three fake exchanges, as systemd runs it:
READY / WATCHDOG / STOPPING on $NOTIFY_SOCKET, ticks stored exactly once, invalid ones
counted, one exchange lost and restored with a gap record, SIGTERM drains."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from arbot.localmarket import LocalExchange
from tests.integration.process import DaemonProcess, NotifyListener, eventually, eventually_scraped
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import Samples, metric

pytestmark = pytest.mark.integration

SECRETS = {
    "apiKey": "key-SECRET-7f3a",
    "secret": "secret-SECRET-91bc",
    "password": "pw-SECRET-c0de",
}
FLOW_WINDOW = 2.0


def config(tmp_path: Path, fakes: dict[str, LocalExchange], metrics_port: int) -> Path:
    # Websockets only: REST polling would keep fetching quotes while the fakes are silent.
    exchanges = [exchange(name, fake.kind, fake.url, mode="ws") for name, fake in fakes.items()]
    # Credentials in ccxt_config must never reach a log line. (Kraken loads its markets
    # from public endpoints even with keys; binance and okx would call private ones.)
    exchanges[2]["ccxt_config"] = {"enableRateLimit": False, **SECRETS}
    doc = daemon_doc(
        tmp_path / "data",
        exchanges,
        metrics_port,
        service={"flow_window": FLOW_WINDOW},
        metrics={"healthy_after": FLOW_WINDOW},
    )
    return write_config(tmp_path / "arbot.toml", doc)


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, LocalExchange]]:
    async with AsyncExitStack() as stack:
        yield {
            kind: await stack.enter_async_context(LocalExchange(kind, rate=5, seed=i))
            for i, kind in enumerate(("binance", "okx", "kraken"))
        }


def received(samples: Samples, name: str) -> float:
    return metric(samples, "arbot_ticks_received_total", exchange=name)


async def test_daemon_process_lifecycle(tmp_path: Path, fakes: dict[str, LocalExchange]) -> None:
    """One run of the daemon process through its whole life, checked at each step."""
    port = free_port()
    listener = NotifyListener(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "400000"}  # ping each 0.2 s
    daemon = await DaemonProcess.start(config(tmp_path, fakes, port), port, env)
    sent_before_restart = 0
    try:
        async with asyncio.TaskGroup() as tg:
            readers = [tg.create_task(listener.collect()), tg.create_task(daemon.read_logs())]

            def state() -> str:
                return f"notify={listener.messages[-5:]}\n{daemon.tail()}"

            await eventually(lambda: listener.has("READY=1"), lambda: f"READY=1; {state()}")
            # Past the start-up grace (one flow window), pings mean data really flows.
            await eventually_scraped(daemon, lambda s: all(received(s, n) > 0 for n in fakes))
            await asyncio.sleep(FLOW_WINDOW)
            mark = len(listener.messages)
            await eventually(
                lambda: listener.has("WATCHDOG=1", since=mark), lambda: f"WATCHDOG=1; {state()}"
            )
            assert await daemon.health() == (200, "ok")
            assert daemon.find("daemon_started")[0]["loop"] == "uvloop"

            # Invalid quotes are rejected and counted by reason.
            binance = fakes["binance"]
            binance.faults.quote = "crossed"
            await eventually(lambda: sum(binance.sent_invalid.values()) >= 4, state)
            binance.faults.quote = None

            # One exchange lost: the others keep flowing.
            okx = fakes["okx"]
            await okx.stop()
            sent_before_restart = sum(okx.sent.values())
            _, before = await daemon.scrape()
            await eventually_scraped(
                daemon,
                lambda s: all(
                    received(s, n) >= received(before, n) + 5 for n in ("binance", "kraken")
                ),
            )
            # Restored on the same port: the feed resumes (and records the gap).
            fakes["okx"] = okx = LocalExchange("okx", rate=5, seed=1, port=okx.port)
            await okx.start()
            await eventually_scraped(
                daemon, lambda s: received(s, "okx") >= sent_before_restart + 5, within=60
            )

            # All quiet: every sent quote arrives.
            for fake in fakes.values():
                fake.faults.silent = True
            sent = {name: sum(f.sent.values()) for name, f in fakes.items()}
            sent["okx"] += sent_before_restart
            text, samples = await eventually_scraped(
                daemon,
                lambda s: all(received(s, n) == sent[n] for n in sent),
            )
            assert metric(
                samples, "arbot_ticks_rejected_total", exchange="binance", reason="crossed"
            ) == sum(binance.sent_invalid.values())
            await check_with_promtool(text)
            # Silent exchanges are not a stuck daemon: pings go on, STATUS= says why.
            mark = len(listener.messages)
            await eventually(
                lambda: any("no exchange delivering" in m for m in listener.messages[mark:]),
                lambda: f"a STATUS= saying no exchange delivers; {state()}",
            )
            quiet = next(
                i
                for i in range(mark, len(listener.messages))
                if "no exchange delivering" in listener.messages[i]
            )
            await eventually(lambda: len(listener.messages) >= quiet + 4, state)
            assert all(m.startswith("WATCHDOG=1\n") for m in listener.messages[quiet:])
            status, reason = await daemon.health()
            assert status == 503 and reason.startswith("no tick received"), reason

            daemon.terminate()
            assert await daemon.wait() == 0
            await eventually(lambda: listener.has("STOPPING=1"), state)
            for task in readers:
                task.cancel()
    finally:
        await daemon.reap()
        listener.close()

    final = daemon.events[-1]
    assert final["event"] == "daemon_stopped", daemon.tail()
    assert final["ticks_accepted"] == final["ticks_committed"] == sum(sent.values())
    assert stored(tmp_path / "data") == sent
    assert gaps(tmp_path / "data") == ["okx"]
    leaked = [line for line in daemon.lines if "SECRET" in line]
    assert not leaked, leaked


async def check_with_promtool(text: str) -> None:
    """`promtool check metrics` on a live scrape prints nothing (skipped without promtool)."""
    if shutil.which("promtool") is None:
        return
    proc = await asyncio.create_subprocess_exec(
        "promtool",
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate(text.encode())
    assert (proc.returncode, output.decode()) == (0, "")


def stored(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "arbot.db") as conn:
        rows = conn.execute(
            "SELECT e.name, count(*) FROM ticks t JOIN exchanges e ON e.id = t.exchange_id "
            "GROUP BY e.name"
        ).fetchall()
    return dict(rows)


def gaps(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "arbot.db") as conn:
        return [r[0] for r in conn.execute("SELECT exchange FROM feed_gaps ORDER BY start")]
