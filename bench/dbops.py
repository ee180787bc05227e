"""Writer stall caused by database operations: pruning 1M ticks and an online backup.

The daemon's Writer (storage/sqlite/writer.py), on an event loop of its own thread, commits a batch
of ticks into arbot.db every few ms and each commit's latency is recorded (from the flush
to its commit, i.e. including lock waits and the writer's retries). Measured in one run:
  baseline   the writer alone
  prune      while retention.prune archives and deletes ARBOT_BENCH_PRUNE_ROWS (1,000,000)
             old ticks (chunk sizes from ARBOT_BENCH_CHUNKS, default 5000,20000), and once
             more with the last chunk size but no pauses between chunks
  backup     while run_backup copies all four files (gzip on)
Figures drift between machines: compare the rows of one run.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import RetentionSettings, StorageSettings
from arbot.storage.connection import db_path
from arbot.storage.schema import init_all, open_database
from arbot.storage.sqlite.backup import run_backup
from arbot.storage.sqlite.retention import DAY, PruneReport, prune
from arbot.storage.sqlite.writer import SWITCH_INTERVAL, Writer

NOW = 1_700_000_000.0
SYMBOLS = 100
EXCHANGES = 10
WRITER_BATCH = 500
WRITER_GAP_S = 0.005
INSERT = (
    "INSERT INTO ticks (symbol_id, ts, exchange_id, bid, ask, bid_size, ask_size, recv_delta_ms)"
    " VALUES (?, ?, ?, ?, ?, 1.0, 1.0, 3)"
)


def load_old_ticks(data_dir: Path, rows: int) -> None:
    """`rows` ticks spread over the 24 hours that end 8 days before NOW (all prunable)."""
    conn = open_database(data_dir, "arbot")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO symbols(id, name) VALUES (?, ?)", [(i, f"S{i}/USDT") for i in range(SYMBOLS)]
    )
    conn.executemany(
        "INSERT INTO exchanges(id, name) VALUES (?, ?)", [(i, f"ex{i}") for i in range(EXCHANGES)]
    )
    conn.execute("COMMIT")
    start = NOW - 9 * DAY
    step = DAY / (rows / (SYMBOLS * EXCHANGES))
    rng = random.Random(1)
    batch: list[tuple[int, float, int, float, float]] = []
    t = start
    while rows > 0:
        for s in range(SYMBOLS):
            for e in range(EXCHANGES):
                bid = 100 + rng.random()
                batch.append((s, t, e, bid, bid + 0.01))
        rows -= SYMBOLS * EXCHANGES
        t += step
        if len(batch) >= 100_000 or rows <= 0:
            conn.execute("BEGIN")
            conn.executemany(INSERT, batch)
            conn.execute("COMMIT")
            batch.clear()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


class WriterLoop(threading.Thread):
    """The daemon's Writer on its own event loop: a batch of new ticks every WRITER_GAP_S,
    each commit's latency recorded."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.settings = StorageSettings(data_dir=data_dir)
        self.stop = threading.Event()
        self.latencies: list[float] = []
        # Recent ticks (retention keeps them), after any a previous writer left.
        conn = open_database(data_dir, "arbot", readonly=True)
        try:
            last = conn.execute("SELECT max(ts) FROM ticks WHERE ts >= ?", (NOW,)).fetchone()[0]
        finally:
            conn.close()
        self.ts = last or NOW
        self.error: BaseException | None = None
        self.rng = random.Random(2)

    def run(self) -> None:
        try:
            asyncio.run(self._write())
        except BaseException as exc:
            self.error = exc

    async def _write(self) -> None:
        writer = Writer.open(self.settings, Metrics())
        try:
            while not self.stop.is_set():
                ticks = []
                for _ in range(WRITER_BATCH):
                    self.ts += 0.001
                    symbol = f"S{self.rng.randrange(SYMBOLS)}/USDT"
                    ticks.append(Tick("ex0", symbol, 100.0, 100.01, 1.0, 1.0, self.ts, self.ts))
                started = time.perf_counter()
                writer.add(ticks)
                await writer.flush()
                self.latencies.append(time.perf_counter() - started)
                await asyncio.sleep(WRITER_GAP_S)
        finally:
            await writer.close()


def measure(data_dir: Path, work: Callable[[], object], idle_s: float = 0.0) -> dict[str, float]:
    """Run the writer during `work()` (or for idle_s seconds without work)."""
    writer = WriterLoop(data_dir)
    writer.start()
    time.sleep(0.2)  # warm-up commits are not counted
    writer.latencies.clear()
    started = time.perf_counter()
    if idle_s:
        time.sleep(idle_s)
    else:
        work()
    seconds = time.perf_counter() - started
    writer.stop.set()
    writer.join()
    if writer.error is not None:
        raise writer.error
    lat = sorted(writer.latencies)
    return {
        "seconds": seconds,
        "commits": len(lat),
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        "max_ms": lat[-1] * 1000,
        "rows_per_s": len(lat) * WRITER_BATCH / seconds,
    }


Result = tuple[str, str, dict[str, float]]  # (short label, description, figures)


def run_all(tmp: Path, rows: int, chunks: list[int]) -> list[Result]:
    results: list[Result] = []
    for chunk in chunks:
        data_dir = tmp / f"prune{chunk}"
        init_all(data_dir)
        load_old_ticks(data_dir, rows)
        if not results:  # baseline and backup once, on the first freshly loaded copy
            size = db_path(data_dir, "arbot").stat().st_size
            backup = partial(run_backup, data_dir, tmp / "backups", time.time())
            results.append(("baseline", "writer alone", measure(data_dir, _idle, 5.0)))
            results.append(
                (
                    "backup",
                    f"backup, all 4 files ({size / 2**20:.0f} MiB arbot.db, gzip)",
                    measure(data_dir, backup),
                )
            )
        results.append(measure_prune(data_dir, rows, chunk, pauses=True))
    # The same again without the pauses between chunks: what they buy the writer.
    data_dir = tmp / "prune-no-pause"
    init_all(data_dir)
    load_old_ticks(data_dir, rows)
    results.append(measure_prune(data_dir, rows, chunks[-1], pauses=False))
    return results


def measure_prune(data_dir: Path, rows: int, chunk: int, *, pauses: bool) -> Result:
    reports: list[PruneReport] = []

    def work() -> None:
        pause = time.sleep if pauses else _no_pause
        reports.append(prune(data_dir, RetentionSettings(chunk_rows=chunk), NOW, pause=pause))

    figures = measure(data_dir, work)
    figures["archive_s"] = reports[0].archive_seconds
    label = f"prune/{chunk}" + ("" if pauses else "/no-pause")
    name = f"prune {rows:,} ticks, chunk_rows={chunk}" + ("" if pauses else ", no pauses")
    return label, name, figures


def _no_pause(seconds: float) -> None:
    return None


def _idle() -> None:
    return None


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)  # as the daemon does (app.py)
    rows = int(os.environ.get("ARBOT_BENCH_PRUNE_ROWS", "1000000"))
    chunks = [int(c) for c in os.environ.get("ARBOT_BENCH_CHUNKS", "5000,20000").split(",")]
    with tempfile.TemporaryDirectory(prefix="arbot-bench-dbops-") as tmp:
        results = run_all(Path(tmp), rows, chunks)
    print(
        f"the daemon's Writer: {WRITER_BATCH}-row batches, {WRITER_GAP_S * 1000:.0f} ms apart; "
        "commit latency includes lock waits and retries"
    )
    header = (
        f"{'while':<48} {'op s':>7} {'archive s':>9} {'commits':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for _, name, r in results:
        archive = f"{r['archive_s']:.2f}" if "archive_s" in r else "-"
        print(
            f"{name:<48} {r['seconds']:>7.2f} {archive:>9} {r['commits']:>8} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['max_ms']:>8.2f}"
        )
    base = results[0][2]
    print(
        "ratios to baseline (p99 / max): "
        + ", ".join(
            f"{label} {r['p99_ms'] / base['p99_ms']:.1f}x / {r['max_ms'] / base['max_ms']:.1f}x"
            for label, _, r in results[1:]
        )
    )


if __name__ == "__main__":
    main()
