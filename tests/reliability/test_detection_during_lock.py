"""Detection never waits for the disk: arbot.db is locked by another process for 30 s
while the fakes dislocate. Signals are found during the lock and stored after it; past the
(small) backlog bound ticks are conflated, counted and covered by feed_gaps rows; RSS stays
bounded; accepted == committed + dropped."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, metric
from tests.reliability.datadir import integrity
from tests.reliability.fakes import FakeMarket
from tests.reliability.scenario import RATE, write_daemon_config
from tests.reliability.test_db_locked import HOLDER

HOLD_SECONDS = 30
BACKLOG = 1000  # the smallest bound: 30 s of ticks exceed it
RSS_GROWTH_LIMIT = 64 * 2**20


@pytest.mark.slow
@pytest.mark.integration
def test_signals_found_while_the_database_is_locked(
    tmp_path: Path, figures: dict[str, object]
) -> None:
    data_dir = tmp_path / "data"
    venues = ("binance:binance", "kraken:kraken")
    with FakeMarket(venues, RATE, dislocate=("kraken",)) as fakes:
        config, port = write_daemon_config(
            tmp_path, data_dir, fakes, storage={"backlog_max_ticks": BACKLOG}
        )
        with Daemon(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
            daemon.wait_metric("arbot_signals_recorded_total", 1, timeout=60)
            base = daemon.sample()
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLDER, str(data_dir / "arbot.db"), str(HOLD_SECONDS)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            locked_at = time.time()
            deadline = time.monotonic() + HOLD_SECONDS - 1
            during = daemon.sample_until(lambda: time.monotonic() > deadline)
            assert holder.wait(30) == 0
            unlocked_at = time.time()
            target = metric(daemon.scrape(), "arbot_ticks_accepted_total")
            daemon.wait_metric("arbot_writer_retrying", 0, timeout=60)
            after = daemon.sample()
            code, _ = daemon.terminate(GRACE + 5)
            final = daemon.final_event()
    found = metric(during[-1].metrics, "arbot_signals_recorded_total") - metric(
        base.metrics, "arbot_signals_recorded_total"
    )
    dropped = metric(after.metrics, "arbot_ticks_dropped_total", reason="storage_backlog")
    conn = sqlite3.connect(data_dir / "arbot.db")
    stored_in_lock = conn.execute(
        "SELECT count(*) FROM arbitrage_signals WHERE timestamp BETWEEN ? AND ?",
        (locked_at, unlocked_at),
    ).fetchone()[0]
    stored_signals = conn.execute("SELECT count(*) FROM arbitrage_signals").fetchone()[0]
    gaps = conn.execute(
        "SELECT count(*), min(start), max(end) FROM feed_gaps WHERE reason LIKE 'storage_backlog%'"
    ).fetchone()
    reasons = [
        r[0] for r in conn.execute("SELECT reason FROM feed_gaps WHERE reason LIKE 'storage%'")
    ]
    conn.close()
    rss_growth = max(s.rss for s in during) - base.rss
    figures.update(
        signals_in_lock=found,
        stored_in_lock=stored_in_lock,
        dropped=int(dropped),
        gap_rows=gaps[0],
        rss_growth_mb=round(rss_growth / 2**20, 1),
        accepted=final["ticks_accepted"],
    )
    assert target > 0
    assert found > 0, "no signal was detected while arbot.db was locked"
    # Stored after the lock, with the time they were found at; none lost.
    assert stored_in_lock > 0
    # Signals go on being found until the stop: compare with the daemon's final count.
    assert stored_signals == final["signals"]
    # Drops go on for a moment after the lock, while the backlog drains: compare at the end.
    assert 0 < dropped <= final["ticks_dropped"]
    assert sum(int(r.split(": ")[1].split()[0]) for r in reasons) == final["ticks_dropped"]
    assert gaps[0] >= 1 and locked_at - 1 <= gaps[1] <= gaps[2]
    assert (
        final["ticks_accepted"]
        == final["ticks_committed"] + final["ticks_dropped"] + final["ticks_skipped"]
    )
    assert rss_growth < RSS_GROWTH_LIMIT
    assert code == 0
    assert integrity(data_dir / "arbot.db") == "ok"
