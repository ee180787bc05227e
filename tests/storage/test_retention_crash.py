"""Killing prune mid-delete and re-running loses no tick and archives none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.storage.dbops_data import expected_bars, insert_ticks, random_ticks

from arbot.settings import RetentionSettings
from arbot.storage.retention import DAY, archived_until, prune
from arbot.storage.schema import open_database

NOW = 1_700_000_000.0
CUTOFF = NOW - 7 * DAY

# Prints a line after every deleted chunk so the test knows it is killing mid-delete.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from arbot.settings import RetentionSettings
    from arbot.storage.retention import prune

    def pause(seconds: float) -> None:
        print("chunk", flush=True)
        time.sleep(0.01)

    prune(Path(sys.argv[1]), RetentionSettings(chunk_rows=100), float(sys.argv[2]), pause=pause)
    print("done", flush=True)
    """
)


def test_sigkill_during_delete_then_rerun(data_dir: Path) -> None:
    """After SIGKILL in the delete phase some archived ticks remain; the re-run deletes them
    without writing their bars again, and every tick is in exactly one place."""
    rows = random_ticks(20_000, CUTOFF - 10 * 3600, 12 * 3600, seed=11)
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows)
    conn.close()

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(NOW)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout is not None
    for _ in range(5):
        assert child.stdout.readline().strip() == "chunk"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()

    hist = open_database(data_dir, "historical")
    watermark = archived_until(hist)
    hist.close()
    assert watermark is not None
    remaining = open_database(data_dir, "arbot")
    left_below = remaining.execute(
        "SELECT count(*) FROM ticks WHERE ts < ?", (watermark,)
    ).fetchone()[0]
    remaining.close()
    assert left_below > 0  # killed mid-delete: archived ticks still present

    report = prune(data_dir, RetentionSettings(chunk_rows=100), NOW)
    assert report.bars_written == 0
    assert report.ticks_deleted == left_below

    conn = open_database(data_dir, "arbot")
    kept = set(conn.execute("SELECT symbol, exchange, timestamp FROM tickers").fetchall())
    conn.close()
    hist = open_database(data_dir, "historical")
    archived = {
        (r[0], r[1], r[2]): (r[3], r[4], r[5], r[6], r[7])
        for r in hist.execute(
            "SELECT symbol, exchange, open_time, open_price, high_price, low_price, "
            "close_price, volume FROM ohlcv"
        )
    }
    hist.close()
    assert archived == expected_bars(rows, watermark)  # each archived tick counted once
    assert kept == {(s, e, ts) for s, e, ts, _, _ in rows if ts >= watermark}
    assert sum(v[4] for v in archived.values()) + len(kept) == len(rows)
