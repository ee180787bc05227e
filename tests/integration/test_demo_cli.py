"""`arbot demo` as a user runs it: its own data dir's `arbot config` overrides apply, and a
busy data dir or metrics port is said in the demo's terms (its flags), in one line."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path

import pytest

from arbot import demo as demo_module
from arbot.app import run_daemon
from arbot.cli import main
from arbot.metrics import Metrics
from arbot.settings import Settings
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.schema import init_all
from tests.reliability.config import free_port


def demo(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "arbot", "demo", "--duration", "1", *argv],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def test_a_busy_data_dir_or_port_is_named_by_the_demos_flags(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    init_all(data)
    with acquire_daemon_lock(data):
        done = demo("--data-dir", str(data), "--metrics-listen", f"127.0.0.1:{free_port()}")
    assert done.returncode == 4, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"--data-dir {data}: in use by a running arbot (pid {os.getpid()})" in line
    assert "systemctl" not in line
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = demo("--data-dir", str(data), "--metrics-listen", f"127.0.0.1:{port}")
    assert done.returncode == 3, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"--metrics-listen 127.0.0.1:{port}: cannot listen" in line
    # The suggestion is one the flag takes (it refuses port 0).
    assert line.endswith(f"e.g. --metrics-listen 127.0.0.1:{port + 1}")
    assert "metrics.listen" not in line


async def test_the_demo_applies_its_data_dirs_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`arbot config set --data-dir <demo dir>` says the change applies; the demo's next
    run must then use it (it built its own settings and ignored config.db)."""
    data = tmp_path / "demo-data"
    init_all(data)
    argv = ["config", "set", "storage.cache_size_kib", "2048", "--data-dir", str(data)]
    assert await asyncio.to_thread(main, argv) == 0
    seen: list[int] = []

    async def spy(settings: Settings, stop: Awaitable[object], metrics: Metrics) -> int:
        seen.append(settings.storage.cache_size_kib)
        return await run_daemon(settings, stop, metrics)

    monkeypatch.setattr(demo_module, "run_daemon", spy)
    out = io.StringIO()
    code = await demo_module.run_demo(data, asyncio.Event().wait(), 0.5, "127.0.0.1:0", out)
    assert code == 0, out.getvalue()
    assert seen == [2048]
