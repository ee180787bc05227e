"""Scenario 5: another process holds a write transaction (BEGIN IMMEDIATE) on arbot.db for
10 s. The writer waits and retries, the storage sink holds the backlog while detection goes
on, nothing is lost, and once the lock is gone the writer catches up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.daemon import Daemon
from tests.reliability.outage import write_outage

HOLD_SECONDS = 10
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@pytest.mark.slow
@pytest.mark.integration
def test_database_locked_by_another_process(tmp_path: Path, figures: dict[str, object]) -> None:
    """Nothing lost while another writer holds the database; the backlog is committed."""
    data_dir = tmp_path / "data"
    holders: list[subprocess.Popen[str]] = []

    def lock(_: Daemon) -> None:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(data_dir / "arbot.db"), str(HOLD_SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"

    def unlock(_: Daemon) -> None:
        assert holders[0].wait(30) == 0

    write_outage(
        tmp_path, data_dir, figures, kind="locked", begin=lock, end=unlock, seconds=HOLD_SECONDS
    )
