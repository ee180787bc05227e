"""Scenario 9: soak at full rate (ARBOT_SOAK_SECONDS, default 120 s; 600 s for the full
version), with one venue's websockets dropped every 15 s so the reconnect paths run too.
Memory, open descriptors and asyncio tasks stay flat (least-squares slope after warm-up),
the WAL stays bounded by its checkpoint threshold, and the stop is clean."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, Sample, metric
from tests.reliability.datadir import integrity
from tests.reliability.scenario import (
    market,
    stored_ticks,
    write_daemon_config,
)

SOAK_SECONDS = float(os.environ.get("ARBOT_SOAK_SECONDS", "120"))
SAMPLE_EVERY = 2.0
DROP_EVERY = 15.0
WARM_UP = 0.4  # share of the run left out (imports, caches and allocator arenas filling)
WAL_PAGES = 2000
PAGE_SIZE = 4096
# RSS growth that counts as a leak, projected per hour from the slope: ~100 bytes per
# tick at this load. A short soak cannot see much finer than that.
RSS_LEAK_PER_HOUR = 256 * 2**20
# Descriptors and tasks come and go with reconnects: compare the medians of the first and
# last thirds of the steady window instead of trusting a slope over a few reconnects.
COUNT_GROWTH = 2


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def grew_by(values: Sequence[float]) -> float:
    """Median of the last third minus median of the first third."""
    third = max(1, len(values) // 3)
    return statistics.median(values[-third:]) - statistics.median(values[:third])


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(SOAK_SECONDS + 240)
def test_soak_flat_memory_fds_tasks(tmp_path: Path, figures: dict[str, object]) -> None:
    """No growth in RSS, descriptors or tasks; WAL bounded; clean stop at the end."""
    data_dir = tmp_path / "data"
    with market() as fakes:
        config, port = write_daemon_config(
            tmp_path,
            data_dir,
            fakes,
            # A small page cache fills in seconds: its growth must not look like a leak.
            storage={"wal_autocheckpoint_pages": WAL_PAGES, "cache_size_kib": 2048},
        )
        with Daemon(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
            started = time.monotonic()
            next_drop = started + DROP_EVERY
            samples: list[Sample] = []
            while time.monotonic() - started < SOAK_SECONDS:
                samples.append(daemon.sample())
                if time.monotonic() >= next_drop:
                    fakes.drop("binance")
                    next_drop += DROP_EVERY
                time.sleep(SAMPLE_EVERY)
            code, _ = daemon.terminate(GRACE + 5)
            final = daemon.final_event()
    steady = [s for s in samples if s.at - started >= WARM_UP * SOAK_SECONDS]
    per_hour = 3600.0

    def trend(values: Sequence[tuple[float, float]]) -> float:
        return slope(values) * per_hour

    rss = trend([(s.at, s.rss) for s in steady])
    fds = trend([(s.at, s.fds) for s in steady])
    tasks = trend([(s.at, metric(s.metrics, "arbot_asyncio_tasks")) for s in steady])
    wal = [metric(s.metrics, "arbot_database_wal_size_bytes", database="arbot") for s in samples]
    rate = (
        metric(samples[-1].metrics, "arbot_ticks_committed_total")
        - metric(samples[0].metrics, "arbot_ticks_committed_total")
    ) / (samples[-1].at - samples[0].at)
    figures.update(
        seconds=round(samples[-1].at - started),
        ticks_per_s=round(rate),
        rss_mb=round(steady[-1].rss / 2**20, 1),
        rss_mb_per_h=round(rss / 2**20, 1),
        fds=steady[-1].fds,
        fds_per_h=round(fds, 1),
        tasks=int(metric(steady[-1].metrics, "arbot_asyncio_tasks")),
        tasks_per_h=round(tasks, 1),
        wal_max_mb=round(max(wal) / 2**20, 1),
        stored=stored_ticks(data_dir),
    )
    assert code == 0
    assert final["ticks_accepted"] == final["ticks_committed"]
    assert rss < RSS_LEAK_PER_HOUR
    assert grew_by([s.fds for s in steady]) <= COUNT_GROWTH
    assert grew_by([metric(s.metrics, "arbot_asyncio_tasks") for s in steady]) <= COUNT_GROWTH
    # A checkpoint runs once the WAL passes WAL_PAGES; one batch may land on top of it.
    assert max(wal) <= 2 * WAL_PAGES * PAGE_SIZE
    assert integrity(data_dir / "arbot.db") == "ok"
