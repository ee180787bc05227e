"""The daemon started while its PostgreSQL server is down: it waits, and the wait is visible
and interruptible. /metrics and /healthz answer meanwhile (503, "waiting for storage" with
the cause, naming the socket); systemd gets EXTEND_TIMEOUT_USEC= and STATUS= (a datagram
socket stands in for $NOTIFY_SOCKET); SIGTERM ends it at once with its final line and exit
0. Started again while the server is down, it stores everything once the server is up."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from tests.postgres.roles import make_roles
from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, wait_until
from tests.reliability.outage import healthz
from tests.reliability.pg import own_cluster, pg_daemon_config, stored_ticks
from tests.reliability.scenario import market

PROMPT_EXIT = 5.0  # seconds from SIGTERM to exit while waiting (one connection attempt)


class NotifySocket:
    """$NOTIFY_SOCKET for the daemon: collects its sd_notify fields on a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fields: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            self.fields += data.decode().split("\n")

    def close(self) -> None:
        self._running = False
        self._thread.join()
        self._sock.close()


def waiting(daemon: Daemon) -> dict[str, Any] | None:
    daemon.check_alive()
    try:
        body = healthz(daemon)
    except OSError:
        return None  # not listening yet
    return body if "last_error" in body["storage"] else None


def test_sigterm_while_waiting_for_the_server(tmp_path: Path, figures: dict[str, object]) -> None:
    with own_cluster() as cluster, market() as fakes:
        roles = make_roles(cluster, tmp_path / "secrets")
        config, port = pg_daemon_config(tmp_path, "daemon", fakes, roles)
        cluster.stop()
        notify = NotifySocket(tmp_path / "notify.sock")
        try:
            with Daemon(config, port, env={"NOTIFY_SOCKET": str(notify.path)}) as daemon:
                body = wait_until(lambda: waiting(daemon), 60, "/healthz: waiting for storage")
                samples = daemon.scrape()  # /metrics answers too
                wait_until(
                    lambda: any(f.startswith("EXTEND_TIMEOUT_USEC=") for f in notify.fields),
                    30,
                    "EXTEND_TIMEOUT_USEC= on the notify socket",
                )
                code, seconds = daemon.terminate(GRACE + 5)
                final = daemon.final_event()
        finally:
            notify.close()
    statuses = [f for f in notify.fields if f.startswith("STATUS=")]
    figures.update(exit_s=round(seconds, 2), notify_fields=len(notify.fields))
    assert body["status"] == "starting" and body["storage"]["state"] == "waiting for storage"
    assert body["reason"].startswith("waiting for storage"), body
    assert str(cluster.socket_dir) in body["storage"]["last_error"], body  # which socket
    assert any(name == "arbot_build_info" for name, _ in samples)
    assert any("waiting for storage" in s for s in statuses), statuses
    assert "READY=1" not in notify.fields
    assert code == 0 and seconds < PROMPT_EXIT, (code, seconds)
    assert final["event"] == "daemon_stopped" and final["exit_code"] == 0, final


def test_started_before_the_server(tmp_path: Path, figures: dict[str, object]) -> None:
    with own_cluster() as cluster, market() as fakes:
        roles = make_roles(cluster, tmp_path / "secrets")
        config, port = pg_daemon_config(tmp_path, "daemon", fakes, roles)
        cluster.stop()
        with Daemon(config, port) as daemon:
            wait_until(lambda: waiting(daemon), 60, "/healthz: waiting for storage")
            time.sleep(2.0)
            cluster.start()
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=90)
            time.sleep(2.0)
            code, _ = daemon.terminate(GRACE + 5)
            final = daemon.final_event()
        stored = stored_ticks(roles)
    waits = [e for e in daemon.stderr.events if e.get("event") == "postgresql_unavailable"]
    figures.update(wait_lines=len(waits), accepted=final["ticks_accepted"], stored=stored)
    assert 1 <= len(waits) <= 3, waits  # one line per distinct error, not one per attempt
    assert code == 0 and final["event"] == "daemon_stopped", final
    assert final["ticks_accepted"] == final["ticks_committed"] == stored > 0
