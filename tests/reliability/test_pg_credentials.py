"""The writer's password rotated while the real daemon runs against the fakes (ALTER ROLE
... PASSWORD, then its session terminated, as after a leak): the daemon stays up, /healthz
says storage is retrying and why (auth), write_errors{kind="auth"} counts, a few log lines
say it (one per state, not one per attempt); once password_file holds the new password the
backlog is committed, and at SIGTERM accepted == committed == rows stored."""

from __future__ import annotations

import time
from pathlib import Path

from tests.postgres.roles import make_roles
from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, metric, wait_until
from tests.reliability.outage import healthz
from tests.reliability.pg import own_cluster, pg_daemon_config, stored_ticks
from tests.reliability.scenario import market

NEW_PASSWORD = "r0tated-While-Running"
OUTAGE_SECONDS = 6.0
MAX_FAILURE_LINES = 3  # session ended (io), login refused (auth), maybe a reconnect race


def test_password_rotated_while_running(tmp_path: Path, figures: dict[str, object]) -> None:
    with own_cluster() as cluster, market() as fakes:
        roles = make_roles(cluster, tmp_path / "secrets")
        config, port = pg_daemon_config(
            tmp_path, "daemon", fakes, roles, metrics={"storage_degraded_after": 2.0}
        )
        with Daemon(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=90)
            logged = len(daemon.stderr.events)
            roles.rotate("writer", NEW_PASSWORD)
            started = time.monotonic()

            def reported() -> dict[str, object] | None:
                daemon.check_alive()
                body = healthz(daemon)
                storage = body["storage"]
                return body if "auth:" in str(storage.get("last_error", "")) else None

            body = wait_until(reported, 60, "/healthz: storage retrying (auth)")
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
            during = daemon.scrape()
            assert metric(during, "arbot_writer_retrying") == 1
            roles.password_file("writer").write_text(NEW_PASSWORD + "\n")
            target = metric(daemon.scrape(), "arbot_ticks_accepted_total")
            daemon.wait_metric("arbot_ticks_committed_total", target, timeout=60)
            daemon.wait_metric("arbot_writer_retrying", 0, timeout=30)
            lines = [
                e for e in daemon.stderr.events[logged:] if e.get("event") == "batch_write_failed"
            ]
            code, _ = daemon.terminate(GRACE + 5)
            final = daemon.final_event()
        stored = stored_ticks(roles)
    figures.update(
        auth_errors=metric(during, "arbot_write_errors_total", kind="auth"),
        backlog_peak=metric(during, "arbot_storage_backlog_ticks"),
        log_lines=len(lines),
        accepted=final["ticks_accepted"],
        stored=stored,
    )
    assert body["status"] in ("degraded", "unhealthy"), body
    assert body["storage"]["state"] == "retrying", body
    assert "password authentication failed" in str(body["storage"]), body
    assert metric(during, "arbot_write_errors_total", kind="auth") >= 2
    assert 1 <= len(lines) <= MAX_FAILURE_LINES, lines
    assert NEW_PASSWORD not in daemon.stderr.text
    assert code == 0 and final["event"] == "daemon_stopped", final
    assert final["ticks_accepted"] == final["ticks_committed"] == stored > 0
