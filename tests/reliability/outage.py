"""The shape shared by the storage-fault scenarios (disk full, I/O errors, a locked
database): under load, a fault makes every commit fail for a while; the writer retries
without exiting, the storage sink holds the backlog (well under storage.backlog_max_ticks
here) while the engine keeps taking from the queue, metrics and logs say why; when the
fault ends the backlog is committed and nothing is lost or corrupt."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, metric
from tests.reliability.datadir import integrity
from tests.reliability.scenario import (
    market,
    stored_ticks,
    write_daemon_config,
)

# RSS may grow by the sink's backlog (a few thousand ticks here, well under 1 KiB each) plus
# the batch being retried and allocator slack; a leak per failed attempt would pass this
# within seconds.
RSS_GROWTH_LIMIT = 96 * 2**20
QUEUE_SIZE = 2000
# The log rate limiter lets one line per (event, error) through every 10 s.
MAX_FAILURE_LINES = 10
DEGRADED_AFTER = 3.0  # metrics.storage_degraded_after: well inside the fault


def healthz(daemon: Daemon) -> dict[str, Any]:
    """/healthz's body, whatever its status code (503 carries the same body)."""
    url = f"http://127.0.0.1:{daemon.metrics_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return body


def write_outage(
    tmp_path: Path,
    data_dir: Path,
    figures: dict[str, object],
    *,
    kind: str,
    begin: Callable[[Daemon], None],
    end: Callable[[Daemon], None],
    seconds: float = 10.0,
    storage: Mapping[str, Any] | None = None,
) -> None:
    with market() as fakes:
        # A small queue: it would fill within the fault if the engine waited for the disk.
        config, port = write_daemon_config(
            tmp_path,
            data_dir,
            fakes,
            storage={"queue_size": QUEUE_SIZE, **(storage or {})},
            metrics={"storage_degraded_after": DEGRADED_AFTER},
        )
        with Daemon(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
            time.sleep(1.0)
            base = daemon.sample()
            logs_before = len(daemon.stderr.events)
            begin(daemon)
            deadline = time.monotonic() + seconds
            health: list[dict[str, Any]] = []

            def done() -> bool:
                health.append(healthz(daemon))
                return time.monotonic() > deadline

            during = daemon.sample_until(done)
            end(daemon)
            # Caught up: everything accepted so far is committed, the writer is idle again.
            target = metric(daemon.scrape(), "arbot_ticks_accepted_total")
            daemon.wait_metric("arbot_ticks_committed_total", target, timeout=60)
            daemon.wait_metric("arbot_writer_retrying", 0, timeout=30)
            after = daemon.sample()
            failure_lines = [
                e
                for e in daemon.stderr.events[logs_before:]
                if e.get("event") == "batch_write_failed" and e.get("kind") == kind
            ]
            code, _ = daemon.terminate(GRACE + 5)
            final = daemon.final_event()
    errors = metric(after.metrics, "arbot_write_errors_total", kind=kind) - metric(
        base.metrics, "arbot_write_errors_total", kind=kind
    )
    rss_growth = max(s.rss for s in during) - base.rss
    stored = stored_ticks(data_dir)
    queue_peak = int(max(metric(s.metrics, "arbot_queue_depth") for s in during))
    backlog_peak = int(max(metric(s.metrics, "arbot_storage_backlog_ticks") for s in during))
    figures.update(
        fault_s=round(during[-1].at - during[0].at, 1),
        errors=errors,
        log_lines=len(failure_lines),
        queue_peak=queue_peak,
        backlog_peak=backlog_peak,
        rss_growth_mb=round(rss_growth / 2**20, 1),
        accepted=final["ticks_accepted"],
        stored=stored,
    )
    assert errors > 0, f"no write error of kind {kind!r} counted"
    # /healthz says so while it lasts (before healthy_after could), naming the cause.
    degraded = [h for h in health if h["storage"]["state"] == "retrying"]
    assert degraded, health[-1]
    assert degraded[0]["status"] == "degraded", degraded[0]
    assert degraded[0]["reason"].startswith("storage not committing"), degraded[0]
    assert kind in degraded[0]["storage"]["last_error"], degraded[0]
    assert any(metric(s.metrics, "arbot_writer_retrying") == 1 for s in during)
    assert 1 <= len(failure_lines) <= MAX_FAILURE_LINES
    assert rss_growth < RSS_GROWTH_LIMIT
    assert queue_peak < QUEUE_SIZE  # detection did not wait for the disk
    assert backlog_peak > 0
    assert code == 0
    assert final["ticks_accepted"] == final["ticks_committed"]
    assert stored == final["ticks_committed"]
    assert integrity(data_dir / "arbot.db") == "ok"
