"""A daemon whose PostgreSQL server cannot be reached at start-up waits for it, visibly and
interruptibly: /healthz answers 503 "waiting for storage" naming the socket, systemd gets
EXTEND_TIMEOUT_USEC= and STATUS=, a stop ends the wait at once with its final line. The
shipped unit orders itself after postgresql.service (ordering only: it also serves
SQLite), as the operations guide says. (The real process: tests/reliability/
test_pg_startup.py.)"""

from __future__ import annotations

import asyncio
import configparser
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from arbot.app import run_daemon
from arbot.metrics import Metrics
from arbot.settings import parse_settings
from arbot.systemd import Notifier, extend_start
from tests.reliability.config import free_port

ROOT = Path(__file__).resolve().parents[2]


class Recorder(Notifier):
    def __init__(self, watchdog_usec: int | None = None) -> None:
        super().__init__("@arbot-test", watchdog_usec)
        self.sent: list[tuple[str, ...]] = []

    def notify(self, *fields: str) -> None:
        self.sent.append(fields)


def get_health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    except OSError:
        return None
    return body


async def test_a_stop_ends_the_wait_for_the_server_at_once(tmp_path: Path) -> None:
    port = free_port()
    nowhere = tmp_path / "no-server"
    settings = parse_settings(
        {
            "storage": {
                "data_dir": str(tmp_path / "data"),
                "backend": "postgresql",
                "retry_max_seconds": 0.2,
            },
            "postgresql": {"conninfo": f"host={nowhere} dbname=arbot user=arbot"},
            "exchanges": [{"id": "binance", "symbols": ["BTC/USDT"]}],
            "metrics": {"listen": f"127.0.0.1:{port}"},
        },
        "test",
    )
    stop = asyncio.Event()
    notifier = Recorder()
    with capture_logs() as logs:
        daemon = asyncio.create_task(
            run_daemon(settings, stop.wait(), Metrics(), notifier=notifier)
        )
        body = None
        async with asyncio.timeout(20):
            while body is None or "last_error" not in body["storage"]:
                await asyncio.sleep(0.1)
                body = await asyncio.to_thread(get_health, port)
            while not any("EXTEND_TIMEOUT_USEC=10000000" in f for f in notifier.sent):  # noqa: ASYNC110 - polls what the daemon sent
                await asyncio.sleep(0.1)
        stopped_at = time.monotonic()
        stop.set()
        async with asyncio.timeout(5):
            assert await daemon == 0
    assert time.monotonic() - stopped_at < 2.0
    assert body["status"] == "starting" and body["storage"]["state"] == "waiting for storage"
    assert str(nowhere) in body["storage"]["last_error"] and "\t" not in body["reason"]
    [extend] = notifier.sent[:1]
    assert any(f.startswith("STATUS=waiting for storage") for f in extend), extend
    assert logs[-1]["event"] == "daemon_stopped" and logs[-1]["exit_code"] == 0, logs[-1]
    assert not any(e["event"] == "daemon_started" for e in logs)


async def test_extend_start_pings_the_watchdog_and_extends_only_while_waiting() -> None:
    notifier = Recorder(watchdog_usec=60_000_000)
    state: list[tuple[float, str] | None] = [None]
    task = asyncio.create_task(extend_start(notifier, lambda: state[0]))
    await asyncio.sleep(0.05)
    state[0] = (3.0, "io: connection refused")
    await asyncio.sleep(2.1)
    task.cancel()
    assert notifier.sent[0] == ("WATCHDOG=1",)
    assert notifier.sent[1] == (
        "WATCHDOG=1",
        "EXTEND_TIMEOUT_USEC=10000000",
        "STATUS=waiting for storage for 3 s (io: connection refused)",
    )


def test_the_unit_orders_itself_after_postgresql_without_requiring_it() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "systemd/arbot.service")
    assert "postgresql.service" in unit["Unit"]["After"].split()
    assert "postgresql.service" not in unit["Unit"].get("Wants", "")
    assert "postgresql.service" not in unit["Unit"].get("Requires", "")
    guide = (ROOT / "docs/operations.md").read_text()
    scaling = guide[guide.index("## Scaling out") :].split("\n## ")[0]
    assert "Wants=postgresql.service" in scaling and "After=postgresql.service" in scaling
