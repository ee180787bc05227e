"""Scenario 1: SIGTERM under load, ten times over one data dir: each stop exits 0 within
the grace timeout and commits every tick it accepted (its last log line says so), and
the database holds exactly the ticks the ten runs committed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon
from tests.reliability.datadir import integrity
from tests.reliability.scenario import (
    market,
    stored_ticks,
    write_daemon_config,
)

CYCLES = 10


@pytest.mark.slow
@pytest.mark.integration
def test_sigterm_under_load(tmp_path: Path, figures: dict[str, object]) -> None:
    """Stop in data-flow order: accepted == committed at every stop, nothing lost."""
    data_dir = tmp_path / "data"
    committed = 0
    stop_seconds: list[float] = []
    with market() as fakes:
        config, port = write_daemon_config(tmp_path, data_dir, fakes)
        for cycle in range(CYCLES):
            with Daemon(config, port) as daemon:
                daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
                time.sleep(1.0)  # under load: ticks queued, a batch buffering
                code, seconds = daemon.terminate(GRACE + 5)
                final = daemon.final_event()
            stop_seconds.append(seconds)
            assert code == 0, f"cycle {cycle}: exit {code}\n{daemon.tail()}"
            assert final.get("event") == "daemon_stopped", final
            assert final["ticks_accepted"] == final["ticks_committed"] + final["ticks_skipped"]
            assert final["ticks_skipped"] == 0  # no conflation configured
            committed += int(final["ticks_committed"])
            figures.update(cycles_ok=cycle + 1, max_stop_s=max(stop_seconds))
    stored = stored_ticks(data_dir)
    figures.update(committed=committed, stored=stored, integrity=integrity(data_dir / "arbot.db"))
    assert stored == committed
    assert figures["integrity"] == "ok"
