"""Scenario 3: the data dir's file system fills up. The writer retries without exiting,
the storage sink holds the backlog (bounded), metrics (write_errors{kind="disk_full"},
writer_retrying) and logs say so; once space is freed ingestion resumes, nothing corrupt."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.daemon import Daemon
from tests.reliability.outage import write_outage

TMPFS_SIZE = "48m"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs mounted for this test (needs root and mount rights)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> int:
    """Write `path` until the file system is full; return the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1 << 9):
            block = b"\0" * chunk
            while True:
                try:
                    f.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += chunk
    return written


@pytest.mark.slow
@pytest.mark.integration
def test_disk_full_then_freed(small_fs: Path, tmp_path: Path, figures: dict[str, object]) -> None:
    """Disk full: retry, bounded memory, reported; space freed: caught up, intact."""
    data_dir = small_fs / "data"
    filler = small_fs / "filler"

    def fill_up(_: Daemon) -> None:
        figures["filler_mb"] = round(fill(filler) / 2**20, 1)

    def free(_: Daemon) -> None:
        filler.unlink()

    # A small WAL checkpoint threshold keeps the WAL from taking the whole tmpfs itself.
    write_outage(
        tmp_path,
        data_dir,
        figures,
        kind="disk_full",
        begin=fill_up,
        end=free,
        storage={"wal_autocheckpoint_pages": 1000},
    )
