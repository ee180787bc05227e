"""Scenario 2: kill -9 under load, twenty times over one data dir. After each kill the
database passes integrity_check, every tick committed before the kill is there, at most
the batch in flight is missing, and the restarted daemon records the outage in feed_gaps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.config import BATCH_SIZE
from tests.reliability.daemon import Daemon, metric
from tests.reliability.datadir import integrity, rows
from tests.reliability.scenario import (
    market,
    stored_ticks,
    write_daemon_config,
)

CYCLES = 20


@pytest.mark.slow
@pytest.mark.integration
def test_kill9_under_load(tmp_path: Path, figures: dict[str, object]) -> None:
    """A crash loses at most the batch in flight; the file is never corrupt."""
    data_dir = tmp_path / "data"
    db = data_dir / "arbot.db"
    stored_before = 0
    worst_missing = 0
    kills: list[float] = []
    with market() as fakes:
        config, port = write_daemon_config(tmp_path, data_dir, fakes)
        for cycle in range(CYCLES):
            with Daemon(config, port) as daemon:
                daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
                time.sleep(0.5)
                samples = daemon.scrape()
                daemon.kill()
            kills.append(time.time())
            accepted = metric(samples, "arbot_ticks_accepted_total")
            committed = metric(samples, "arbot_ticks_committed_total")
            verdict = integrity(db)
            assert verdict == "ok", f"cycle {cycle}: {verdict}"
            stored = stored_ticks(data_dir)
            new_rows = stored - stored_before
            stored_before = stored
            assert new_rows >= committed, f"cycle {cycle}: committed ticks lost"
            # In flight: the batch being committed plus the one buffering behind it.
            missing = int(max(0.0, accepted - new_rows))
            worst_missing = max(worst_missing, missing)
            assert missing <= 2 * BATCH_SIZE, f"cycle {cycle}: {missing} accepted ticks lost"
            figures.update(cycles_ok=cycle + 1, max_missing=worst_missing)
        # One more start: it must come up on the crashed file and record the last outage.
        with Daemon(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
            time.sleep(1.0)
            code, _ = daemon.terminate(30)
        sent_total = sum(fakes.sent(n) for n in fakes.urls)
    gaps = [(float(str(s)), float(str(e))) for s, e in rows(db, "SELECT start, end FROM feed_gaps")]
    covered = sum(1 for k in kills if any(s <= k <= e for s, e in gaps))
    figures.update(
        stored=stored_ticks(data_dir),
        sent=sent_total,
        kills_with_gap_row=f"{covered}/{CYCLES}",
        final_exit=code,
    )
    assert stored_ticks(data_dir) <= sent_total  # no phantom rows
    assert code == 0
    assert covered == CYCLES, "a restart after a crash must record the outage in feed_gaps"
