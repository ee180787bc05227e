"""PostgreSQL faults under the PostgreSQL batch writer (PgWriter), each on a cluster of its
own: the server restarted mid-ingest (pg_ctl restart -m fast), frozen for 10 s (SIGSTOP of
every server process), unreachable at start-up. Batches keep being cut while the server is
away; afterwards accepted == committed == rows in the table, nothing duplicated.
(A wrong password, which only an operator can fix, is tests/postgres/test_connect.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import PostgresSettings
from arbot.storage.pg.writer import PgWriter
from tests.postgres.cluster import ENABLE_HINT, REQUIRE_ENV, Cluster, server_bindir

BATCHES = 60
PER_BATCH = 500
PAUSE_SECONDS = 10


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = server_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {ENABLE_HINT}")
        pytest.skip(ENABLE_HINT)
    c = Cluster(bindir)
    try:
        c.init()
        c.start()
        yield c
    finally:
        with contextlib.suppress(Exception):
            c.resume()  # a test failing mid-freeze must not leave stopped processes
        c.remove()


def batch(k: int) -> list[Tick]:
    out = []
    for i in range(PER_BATCH):
        ts = 1_700_000_000.0 + k * PER_BATCH + i
        out.append(Tick(f"ex{i % 4}", f"S{i % 10}/USDT", 100.0, 100.5, 1.0, 1.0, ts, ts))
    return out


async def ingest(writer: PgWriter, during: threading.Thread, figures: dict[str, object]) -> None:
    """Cut a batch every 20 ms (as the sink would under load); start `during` a third of the
    way in. Each flush is awaited in order, so the sink's backpressure is exercised."""
    started = time.monotonic()
    for k in range(BATCHES):
        if k == BATCHES // 3:
            during.start()
        writer.add(batch(k))
        await writer.flush()
        await asyncio.sleep(0.02)
    figures["seconds"] = round(time.monotonic() - started, 1)
    await writer.close()
    during.join()


def check(cluster: Cluster, writer: PgWriter, metrics: Metrics, figures: dict[str, object]) -> None:
    accepted = BATCHES * PER_BATCH
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
    errors = metrics.registry.get_sample_value("arbot_write_errors_total", {"kind": "io"}) or 0
    figures.update(accepted=accepted, committed=writer.committed, rows=rows, retries=int(errors))
    assert writer.committed == accepted
    assert rows == accepted


@pytest.mark.slow
def test_server_restarted_mid_ingest(cluster: Cluster, figures: dict[str, object]) -> None:
    metrics = Metrics()
    writer = PgWriter(PostgresSettings(conninfo=cluster.conninfo()), metrics, retry_max_seconds=0.5)
    asyncio.run(ingest(writer, threading.Thread(target=cluster.restart), figures))
    check(cluster, writer, metrics, figures)
    assert int(str(figures["retries"])) >= 1  # the restart was felt, and recovered from


@pytest.mark.slow
def test_server_frozen_for_ten_seconds(cluster: Cluster, figures: dict[str, object]) -> None:
    metrics = Metrics()
    writer = PgWriter(PostgresSettings(conninfo=cluster.conninfo()), metrics, retry_max_seconds=0.5)

    def freeze() -> None:
        cluster.pause()
        time.sleep(PAUSE_SECONDS)
        cluster.resume()

    asyncio.run(ingest(writer, threading.Thread(target=freeze), figures))
    check(cluster, writer, metrics, figures)
    assert float(str(figures["seconds"])) >= PAUSE_SECONDS


@pytest.mark.slow
def test_server_unreachable_at_start_up(cluster: Cluster, figures: dict[str, object]) -> None:
    """The writer waits for the server (logging why) instead of failing the start."""
    cluster.stop()
    metrics = Metrics()
    writer = PgWriter(PostgresSettings(conninfo=cluster.conninfo()), metrics, retry_max_seconds=0.5)
    starter = threading.Timer(3.0, cluster.start)
    starter.start()
    with capture_logs() as logs:
        resume = writer.resume_state()
    starter.join()
    assert resume.first_ids["trades"] > 0
    waits = [e for e in logs if e["event"] == "postgresql_unavailable"]
    figures["waits_logged"] = len(waits)
    assert waits
    asyncio.run(ingest(writer, threading.Thread(target=lambda: None), figures))
    check(cluster, writer, metrics, figures)


@pytest.mark.slow
def test_disk_of_the_cluster_full(figures: dict[str, object]) -> None:
    """The cluster's file system fills up (a small tmpfs and a ballast file): the batch
    fails and is retried; once space is freed it commits, nothing lost or doubled."""
    bindir = server_bindir()
    if bindir is None or os.geteuid() != 0:
        pytest.skip("needs the server binaries and root (to mount a small tmpfs)")
    # Under /tmp itself: the server's user must be able to reach it (pytest's tmp_path is
    # private to root).
    disk = Path(tempfile.mkdtemp(prefix="arbot-disk-"))
    mount = ["mount", "-t", "tmpfs", "-o", "size=160m,mode=0755", "tmpfs", str(disk)]
    if subprocess.run(mount, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    cluster = Cluster(bindir, parent=disk)
    try:
        cluster.init()
        cluster.start(settings="-c min_wal_size=32MB -c max_wal_size=64MB")
        metrics = Metrics()
        writer = PgWriter(
            PostgresSettings(conninfo=cluster.conninfo()), metrics, retry_max_seconds=0.5
        )
        writer.resume_state()
        ballast = disk / "ballast"
        free = shutil.disk_usage(disk).free
        with ballast.open("wb") as f:  # leave ~2 MB: the next batches cannot fit
            f.write(b"\0" * max(free - 2 * 1024 * 1024, 0))

        def errors() -> float:
            return sum(
                metrics.registry.get_sample_value("arbot_write_errors_total", {"kind": k}) or 0
                for k in ("disk_full", "io", "other")
            )

        async def run() -> None:
            accepted = 0
            for k in range(BATCHES):
                writer.add(batch(k))
                accepted += PER_BATCH
                commit = asyncio.ensure_future(writer.flush())
                while not commit.done() and errors() < 3:  # noqa: ASYNC110 - polls counters
                    await asyncio.sleep(0.05)
                if not commit.done():
                    figures["failed_at_batch"] = k
                    ballast.unlink()  # the operator frees space
                    await commit
                    break
                await commit
            figures["accepted"] = accepted
            await writer.close()

        asyncio.run(run())
        assert "failed_at_batch" in figures, "the disk never filled up"
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            (rows,) = conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
        disk_full = metrics.registry.get_sample_value(
            "arbot_write_errors_total", {"kind": "disk_full"}
        )
        figures.update(
            committed=writer.committed, rows=rows, errors=int(errors()), disk_full=disk_full
        )
        assert writer.committed == figures["accepted"] == rows
    finally:
        with contextlib.suppress(Exception):
            cluster.remove()
        subprocess.run(["umount", "-l", str(disk)], check=False)
        disk.rmdir()
