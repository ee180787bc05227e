"""Scenario 5: another process holds a write transaction (BEGIN IMMEDIATE) on arbot.db for
10 s. The writer waits and retries, the bounded queue holds the backlog, nothing is lost,
and once the lock is gone the writer catches up."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.daemon import metric
from tests.reliability.datadir import integrity
from tests.reliability.scenario import (
    GRACE,
    market,
    require_run_command,
    start,
    stored_ticks,
    write_daemon_config,
)

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
    require_run_command()
    data_dir = tmp_path / "data"
    with market() as fakes:
        config, port = write_daemon_config(tmp_path, data_dir, fakes.urls)
        with start(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLDER, str(data_dir / "arbot.db"), str(HOLD_SECONDS)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            before = daemon.scrape()
            during = daemon.sample_until(lambda: holder.poll() is not None)
            assert holder.returncode == 0
            held = time.monotonic() - locked_at
            # Caught up: a batch committed after the lock, and the writer stopped retrying.
            daemon.wait_metric(
                "arbot_ticks_committed_total",
                metric(daemon.scrape(), "arbot_ticks_accepted_total"),
                timeout=30,
            )
            after = daemon.scrape()
            code, _ = daemon.terminate(GRACE + 5)
            final = daemon.final_event()
    stored = stored_ticks(data_dir)
    figures.update(
        held_s=round(held, 1),
        locked_errors=metric(after, "arbot_write_errors_total", kind="locked")
        - metric(before, "arbot_write_errors_total", kind="locked"),
        queue_peak=max(metric(s.metrics, "arbot_queue_depth") for s in during),
        rss_peak_mb=max(s.rss for s in during) // 2**20,
        accepted=final["ticks_accepted"],
        committed=final["ticks_committed"],
        stored=stored,
    )
    assert code == 0
    assert any(metric(s.metrics, "arbot_writer_retrying") == 1 for s in during)
    assert metric(after, "arbot_writer_retrying") == 0
    assert final["ticks_accepted"] == final["ticks_committed"]
    assert stored == final["ticks_committed"]
    assert integrity(data_dir / "arbot.db") == "ok"
