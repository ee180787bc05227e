"""Scenario 4: writes to the WAL fail with EIO for a while (strace attached to every thread
of the running daemon injects the error into pwrite64 on arbot.db-wal, then detaches).
Same expectations as a full disk: retry, bounded memory, reported, then caught up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.reliability.daemon import Daemon
from tests.reliability.outage import write_outage

STRACE = shutil.which("strace")


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(STRACE is None, reason="strace is not installed (apt-get install strace)")
def test_wal_write_eio_then_recovers(tmp_path: Path, figures: dict[str, object]) -> None:
    """EIO on WAL writes: retried without exiting; after detaching nothing is lost."""
    assert STRACE is not None
    data_dir = tmp_path / "data"
    tracers: list[subprocess.Popen[str]] = []

    def inject(daemon: Daemon) -> None:
        # -p per thread: the writer commits on its own thread, which -p PID alone misses.
        threads = [a for tid in os.listdir(f"/proc/{daemon.pid}/task") for a in ("-p", tid)]
        tracer = subprocess.Popen(
            [
                STRACE,
                "-qq",
                "-f",
                "-e",
                "trace=pwrite64",
                "-e",
                "inject=pwrite64:error=EIO",
                "-P",
                str(data_dir / "arbot.db-wal"),
                "-o",
                str(tmp_path / "strace.log"),
                *threads,
            ],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        tracers.append(tracer)

    def detach(_: Daemon) -> None:
        tracer = tracers[0]
        tracer.send_signal(signal.SIGINT)
        assert tracer.wait(30) is not None
        injected = (tmp_path / "strace.log").read_text().count("(INJECTED)")
        figures["injected"] = injected
        assert injected > 0, tracer.stderr.read() if tracer.stderr else ""

    write_outage(tmp_path, data_dir, figures, kind="io", begin=inject, end=detach, seconds=8.0)
