"""Killing prune mid-archive or mid-delete and re-running loses no tick and archives none
twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.storage.dbops_data import TickRow, expected_bars, insert_ticks, random_ticks

from arbot.settings import RetentionSettings
from arbot.storage.schema import open_database
from arbot.storage.sqlite.retention import DAY, archived_until, prune

NOW = 1_700_000_000.0
CUTOFF = NOW - 7 * DAY

# Prints a line after every deleted chunk so the test knows it is killing mid-delete.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from arbot.settings import RetentionSettings
    from arbot.storage.sqlite.retention import prune

    def pause(seconds: float) -> None:
        if seconds > 0:  # the delete phase (archive calls pause(0) between hours)
            print("chunk", flush=True)
            time.sleep(0.01)

    prune(Path(sys.argv[1]), RetentionSettings(chunk_rows=100), float(sys.argv[2]), pause=pause)
    print("done", flush=True)
    """
)


# Prints a line after each archived hour (instrumenting the real function) to be killed
# between, or inside, the per-hour historical.db transactions.
CHILD_ARCHIVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from arbot.settings import RetentionSettings
    from arbot.storage.sqlite import retention

    real_hour_bars = retention.hour_bars

    def hour_bars(arbot, start):
        print("hour", flush=True)
        time.sleep(0.02)
        return real_hour_bars(arbot, start)

    retention.hour_bars = hour_bars
    retention.prune(Path(sys.argv[1]), RetentionSettings(chunk_rows=100), float(sys.argv[2]))
    """
)


def run_and_kill(data_dir: Path, script: str, marker: str, after: int) -> None:
    """Run `script` on data_dir and SIGKILL it once it printed `marker` `after` times."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir), str(NOW)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout is not None
    for _ in range(after):
        assert child.stdout.readline().strip() == marker
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()


def assert_each_tick_in_one_place(data_dir: Path, rows: list[TickRow]) -> None:
    hist = open_database(data_dir, "historical")
    watermark = archived_until(hist)
    archived = {
        (r[0], r[1], r[2]): (r[3], r[4], r[5], r[6], r[7])
        for r in hist.execute(
            "SELECT symbol, exchange, open_time, open_price, high_price, low_price, "
            "close_price, volume FROM ohlcv"
        )
    }
    hist.close()
    assert watermark is not None
    conn = open_database(data_dir, "arbot")
    kept = set(conn.execute("SELECT symbol, exchange, timestamp FROM tickers").fetchall())
    conn.close()
    assert archived == expected_bars(rows, watermark)  # each archived tick counted once
    assert kept == {(s, e, ts) for s, e, ts, _, _ in rows if ts >= watermark}
    assert sum(v[4] for v in archived.values()) + len(kept) == len(rows)


def test_sigkill_during_archive_then_rerun(data_dir: Path) -> None:
    """Killed after some hours were archived and none deleted: the re-run archives only the
    remaining hours, then deletes."""
    rows = random_ticks(5000, CUTOFF - 10 * 3600, 12 * 3600, seed=12)
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows)
    conn.close()

    run_and_kill(data_dir, CHILD_ARCHIVE, "hour", 4)

    hist = open_database(data_dir, "historical")
    partial = hist.execute("SELECT count(DISTINCT open_time) FROM ohlcv").fetchone()[0]
    hist.close()
    assert 2 <= partial <= 4  # some hours archived, the run stopped before the end
    prune(data_dir, RetentionSettings(chunk_rows=100), NOW)
    assert_each_tick_in_one_place(data_dir, rows)


def test_sigkill_during_delete_then_rerun(data_dir: Path) -> None:
    """After SIGKILL in the delete phase some archived ticks remain; the re-run deletes them
    without writing their bars again, and every tick is in exactly one place."""
    rows = random_ticks(20_000, CUTOFF - 10 * 3600, 12 * 3600, seed=11)
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, rows)
    conn.close()

    run_and_kill(data_dir, CHILD, "chunk", 5)

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

    assert_each_tick_in_one_place(data_dir, rows)
