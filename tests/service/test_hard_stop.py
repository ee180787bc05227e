"""The process ends HARD_STOP_MARGIN after the grace timeout even if a task ignores its
cancellation (a drain can then never finish by itself)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from arbot.runner import HARD_STOP_MARGIN

STUCK = """
import asyncio, sys
from arbot import logs
from arbot.runner import run_until_signalled

logs.configure("json", "info")

async def main(stop):
    print("ready", flush=True)  # the signal handlers are installed before main runs
    await stop
    print("draining", flush=True)
    while True:  # a task that swallows every cancellation
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass

sys.exit(run_until_signalled(main, grace=0.5))
"""


def test_a_stuck_drain_is_ended_after_grace_plus_margin() -> None:
    """SIGTERM once; the stuck process exits 1 by itself, not before the grace timeout."""
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout.readline() == b"draining\n"
        sent = time.monotonic()
        code = proc.wait(timeout=0.5 + HARD_STOP_MARGIN + 10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert code == 1
    assert elapsed >= 0.5 + HARD_STOP_MARGIN - 0.5
    assert proc.stderr is not None and b"stop_deadline_exceeded" in proc.stderr.read()
