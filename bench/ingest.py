"""Ingestion through the real path: bounded queue -> Pipeline -> Engine (storage filter, no
detector) -> StorageSink -> Writer -> arbot.db.

20 in-process feeds (one per exchange, 100 symbols each) put Ticks into the queue as fast as
it takes them, until ARBOT_BENCH_ROWS (default 10,000,000) ticks are committed. Measured in
the same run, for ratios: (a) a plain sqlite3 executemany loop inserting the same rows into
the same storage (a fresh arbot.db, same batch size, the values encoded as the writer stores
them); (a0) the same loop storing the values as REAL, as an earlier version of this bench
did (larger rows, no encoding work: not the same rows). The pipeline, (a) and (a0) take
turns in ARBOT_BENCH_ROUNDS (default 5) rounds of a share of the rows each, each side
adding to its own file; their times are the sums. (b) the spec-literal `tickers` table
with all spec indexes fed by the spec's per-row INSERT OR REPLACE + commit
(ARBOT_BENCH_SPEC_ROWS, default 20,000: it is slow). Price history (one symbol, one exchange,
a 60 s window) p50 on our layout against the spec table bulk-loaded with
ARBOT_BENCH_QUERY_ROWS (default min(rows, 2,000,000)) of the same rows. Then conflation and
skip-unchanged on recorded Binance bookTicker data: how many rows and bytes they store.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import orjson

from arbot.engine import Engine
from arbot.event_loop import loop_factory
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.pipeline import Pipeline
from arbot.settings import Settings, StorageSettings
from arbot.sink import StorageSink
from arbot.storage.connection import Pragmas, connect
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import SWITCH_INTERVAL, TICK_COLUMNS, Writer, encoded_sql
from arbot.tick_queue import TickQueue
from bench.layout import PRICE_HISTORY, SPEC_INSERT, spec_tickers_ddl

# Baselines (a) and (a0): one row of ids and values a statement. (a) encodes the values in
# SQL as the writer does (cheaper than the same in Python, storage/books.py `units`).
PLAIN_SQL = f"INSERT OR REPLACE INTO ticks ({TICK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
ENCODED = ", ".join(encoded_sql(f"?{i}") for i in range(4, 8))
PLAIN_ENCODED_SQL = (
    f"INSERT OR REPLACE INTO ticks ({TICK_COLUMNS}) VALUES (?1, ?2, ?3, {ENCODED}, ?8)"
)
PLAINS = {"a": PLAIN_ENCODED_SQL, "a0": PLAIN_SQL}
EXCHANGES = tuple(f"ex{i:02d}" for i in range(20))
SYMBOLS = tuple(f"S{i:03d}/USDT" for i in range(100))
T0 = 1_700_000_000.0
STEP = 0.0001  # market clock: 10k ticks/s across all feeds, 5 a second per exchange+symbol
WINDOW = 60.0
QUERIES = 200


def tick(exchange: str, k: int, seq: int) -> Tick:
    """The k-th tick of `exchange`, the seq-th of the market: timestamps follow one market
    clock whichever feed runs, as real exchange timestamps do."""
    ts = T0 + seq * STEP
    bid = 100.0 + (k % 100) * 10.0 + (k % 89) * 0.01
    return Tick(exchange, SYMBOLS[k % 100], bid, bid + 0.01, 1.5, 2.5, ts, ts + 0.02)


async def feed(queue: TickQueue, exchange: str, ks: range, market: Iterator[int]) -> None:
    # As a feed with a burst in hand: no suspension while the queue has room, the
    # backpressure wait when it is full.
    put, put_nowait = queue.put, queue.put_nowait
    for k in ks:
        item = tick(exchange, k, next(market))
        try:
            put_nowait(item)
        except asyncio.QueueFull:
            await put(item)


def cpu_seconds() -> float:
    """CPU time of this process, all threads: comparable even when the machine is busy."""
    t = os.times()
    return t.user + t.system


def storage_pipeline(settings: StorageSettings) -> Pipeline:
    """The daemon's stages on settings.data_dir, the engine without detector."""
    metrics = Metrics()
    writer = Writer.open(settings, metrics)
    engine = Engine(
        Settings(storage=settings), {}, writer.resume_state(), paper=False, detect=False
    )
    return Pipeline(engine, StorageSink(writer, settings, metrics), metrics)


async def drain(pipeline: Pipeline, consumer: asyncio.Task[None]) -> None:
    """After the sentinel, as the daemon stops: pipeline, then sink, then writer."""
    await consumer
    await pipeline.sink.close()


async def run_pipeline(settings: StorageSettings, ks: range) -> tuple[float, int]:
    """Each feed's ticks `ks` into settings.data_dir: seconds from the first put until
    everything is committed, and rows committed."""
    settings.data_dir.mkdir(exist_ok=True)
    pipeline = storage_pipeline(settings)
    sys.setswitchinterval(SWITCH_INTERVAL)  # as the daemon does (app.py)
    queue = TickQueue(settings.queue_size)
    market = itertools.count(ks.start * len(EXCHANGES))
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(pipeline.sink.run())
        consumer = tg.create_task(pipeline.run(queue))
        async with asyncio.TaskGroup() as feeds:
            for exchange in EXCHANGES:
                feeds.create_task(feed(queue, exchange, ks, market))
        queue.close()
        await drain(pipeline, consumer)
    elapsed = time.perf_counter() - start
    await pipeline.sink.writer.close()
    return elapsed, pipeline.committed


def plain_executemany(data_dir: Path, pragmas: Pragmas, ks: range, batch: int, sql: str) -> float:
    """Baselines (a) and (a0): each exchange's ticks `ks` into data_dir, same schema and
    pragmas, executemany of `sql` + commit a batch. Seconds taken."""
    data_dir.mkdir(exist_ok=True)
    conn = open_database(data_dir, "arbot", pragmas)
    add = "INSERT OR IGNORE INTO {}(id, name) VALUES (?, ?)"
    conn.executemany(add.format("symbols"), enumerate(SYMBOLS, 1))
    conn.executemany(add.format("exchanges"), enumerate(EXCHANGES, 1))
    start = time.perf_counter()
    buf: list[tuple[object, ...]] = []
    for k in ks:
        for e, exchange in enumerate(EXCHANGES, 1):
            t = tick(exchange, k, k * len(EXCHANGES) + e - 1)
            buf.append((k % 100 + 1, t.timestamp, e, t.bid, t.ask, 1.5, 2.5, 20))
        if len(buf) >= batch or k == ks[-1]:
            conn.execute("BEGIN")
            conn.executemany(sql, buf)
            conn.execute("COMMIT")
            buf = []
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def spec_rows(n: int) -> Iterator[tuple[object, ...]]:
    for k in range(n // len(EXCHANGES) + 1):
        for e, exchange in enumerate(EXCHANGES):
            t = tick(exchange, k, k * len(EXCHANGES) + e)
            yield (t.symbol, t.exchange, t.bid, t.ask, t.bid_size, t.ask_size, t.timestamp)


def spec_per_row(path: Path, pragmas: Pragmas, n: int) -> float:
    """Baseline (b): the spec's insert_ticker (one INSERT OR REPLACE + commit per row)."""
    conn = connect(path, pragmas)
    for statement in spec_tickers_ddl():
        conn.execute(statement)
    rows = list(spec_rows(n))[:n]
    start = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN")
        conn.execute(SPEC_INSERT, row)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def spec_bulk(path: Path, pragmas: Pragmas, n: int) -> sqlite3.Connection:
    """The spec table with n rows for the query comparison (indexes built after the load)."""
    conn = connect(path, pragmas)
    ddl = spec_tickers_ddl()
    conn.execute(ddl[0])
    conn.execute("BEGIN")
    conn.executemany(SPEC_INSERT, (r for r, _ in zip(spec_rows(n), range(n), strict=False)))
    conn.execute("COMMIT")
    for statement in ddl[1:]:
        conn.execute(statement)
    conn.execute("ANALYZE")
    return conn


def history_p50_ms(conn: sqlite3.Connection, rows: int) -> float:
    span = rows * STEP
    rng = random.Random(7)
    params = []
    for _ in range(QUERIES):
        start = T0 + rng.random() * max(0.0, span - WINDOW)
        params.append((rng.choice(SYMBOLS), rng.choice(EXCHANGES), start, start + WINDOW))
    times = []
    for timed in (False, True):
        for p in params:
            t = time.perf_counter()
            conn.execute(PRICE_HISTORY, p).fetchall()
            if timed:
                times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def disk_bytes(data_dir: Path) -> int:
    """arbot.db plus WAL after a TRUNCATE checkpoint."""
    conn = sqlite3.connect(data_dir / "arbot.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = data_dir / "arbot.db-wal"
    return (data_dir / "arbot.db").stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def recorded_ticks() -> list[Tick]:
    """Binance spot + USD-M bookTicker captures, in receive order (spot has no event time:
    its timestamp is the receive time, as in the feeds)."""
    ticks = []
    folder = resources.files("arbot.localmarket") / "data"
    for name, exchange in (
        ("spot_btcusdt", "binance"),
        ("spot_ethusdt", "binance"),
        ("usdm_btcusdt", "binanceusdm"),
        ("usdm_ethusdt", "binanceusdm"),
    ):
        with gzip.open(str(folder / f"{name}_bookticker_20240808.gz"), "rt") as f:
            for line in f:
                recv_ns, raw = line.split(" ", 1)
                d = orjson.loads(raw)["data"]
                received = int(recv_ns) / 1e9
                ts = d["T"] / 1000 if "T" in d else received
                symbol = d["s"][:-4] + "/USDT"
                ticks.append(
                    Tick(
                        exchange,
                        symbol,
                        float(d["b"]),
                        float(d["a"]),
                        float(d["B"]),
                        float(d["A"]),
                        ts,
                        received,
                    )
                )
    ticks.sort(key=lambda t: t.received)
    return ticks


async def store_modes(workdir: Path) -> list[tuple[str, int, int, int, int]]:
    """(mode, accepted, stored, rows in table, bytes on disk) per filter setting."""
    ticks = recorded_ticks()
    out = []
    modes = [
        ("every tick", 0, False),
        ("skip_unchanged", 0, True),
        ("conflate_ms=100", 100, False),
        ("conflate_ms=1000", 1000, False),
        ("conflate 1000 + skip", 1000, True),
    ]
    for i, (label, conflate_ms, skip) in enumerate(modes):
        settings = StorageSettings(
            data_dir=workdir / f"mode{i}", conflate_ms=conflate_ms, skip_unchanged=skip
        )
        settings.data_dir.mkdir()
        queue = TickQueue(len(ticks) + 1)
        for t in ticks:
            queue.put_nowait(t)
        queue.close()
        pipeline = storage_pipeline(settings)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(pipeline.sink.run())
            await drain(pipeline, tg.create_task(pipeline.run(queue)))
        await pipeline.sink.writer.close()
        conn = sqlite3.connect(settings.data_dir / "arbot.db")
        stored = conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
        conn.close()
        out.append(
            (label, pipeline.accepted, pipeline.committed, stored, disk_bytes(settings.data_dir))
        )
    return out


def main() -> None:
    rows = int(os.environ.get("ARBOT_BENCH_ROWS", "10000000"))
    n_spec = int(os.environ.get("ARBOT_BENCH_SPEC_ROWS", "20000"))
    n_query = int(os.environ.get("ARBOT_BENCH_QUERY_ROWS", str(min(rows, 2_000_000))))
    rounds = int(os.environ.get("ARBOT_BENCH_ROUNDS", "5"))
    with tempfile.TemporaryDirectory(prefix="arbot-bench-ingest-") as tmp:
        work = Path(tmp)
        # Storage throughput: every tick stored, the feeds held back by a bound the size of
        # the old queue. With the default "conflate" a producer faster than the disk would
        # have its excess counted and dropped instead (see sink.py).
        settings = StorageSettings(
            data_dir=work / "pipeline", backlog_overflow="block", backlog_max_ticks=100_000
        )
        pragmas = Pragmas(
            settings.cache_size_kib, settings.busy_timeout_ms, settings.wal_autocheckpoint_pages
        )
        # The sides take turns, a share of the rows each round, so that the load of a
        # shared machine changing during the run weighs on all of them alike.
        elapsed = cpu = 0.0
        committed = 0
        plains = {label: [0.0, 0.0] for label in PLAINS}  # seconds, CPU seconds
        per_feed = rows // len(EXCHANGES)
        for r in range(rounds):
            ks = range(per_feed * r // rounds, per_feed * (r + 1) // rounds)
            print(f"  round {r + 1}/{rounds}: pipeline, (a), (a0) ...", flush=True)
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                started = cpu_seconds()
                seconds, stored = runner.run(run_pipeline(settings, ks))
                cpu += cpu_seconds() - started
            elapsed += seconds
            committed += stored
            for label, sql in PLAINS.items():
                started = cpu_seconds()
                seconds = plain_executemany(work / label, pragmas, ks, settings.batch_size, sql)
                plains[label][0] += seconds
                plains[label][1] += cpu_seconds() - started
        peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = disk_bytes(settings.data_dir)
        ours = open_database(settings.data_dir, "arbot", pragmas)
        ours.execute("ANALYZE")
        ours_ms = history_p50_ms(ours, committed)
        ours.close()
        plain_sizes = {label: disk_bytes(work / label) for label in PLAINS}
        print(f"  (b) spec per-row commit: {n_spec:,} rows ...", flush=True)
        spec_rate = spec_per_row(work / "spec_per_row.db", pragmas, n_spec)
        print(f"  spec table for queries: {n_query:,} rows ...", flush=True)
        spec = spec_bulk(work / "spec_query.db", pragmas, n_query)
        spec_ms = history_p50_ms(spec, n_query)
        spec.close()
        modes = asyncio.run(store_modes(work))
    rate = committed / elapsed
    print(f"{'measure':<44} {'value':>14} {'ratio':>10}")
    print("-" * 70)
    print(f"{'ticks committed':<44} {committed:>14,}")
    print(f"{'sustained stored ticks/s (queue+pipeline+writer)':<44} {rate:>14,.0f}")
    for label, (seconds, _) in plains.items():
        what = f"({label}) plain sqlite3 executemany rows/s"
        plain = committed / seconds
        print(f"{what:<44} {plain:>14,.0f} {rate / plain:>9.2f}x")
    print(
        f"{'(b) spec per-row INSERT+commit rows/s':<44} {spec_rate:>14,.0f} "
        f"{rate / spec_rate:>9.0f}x"
    )
    print(f"{'CPU µs per tick, all threads (ours)':<44} {cpu / committed * 1e6:>14.2f}")
    for label, (_, plain_cpu) in plains.items():
        what = f"CPU µs per row ({label}) plain executemany"
        print(f"{what:<44} {plain_cpu / committed * 1e6:>14.2f} {plain_cpu / cpu:>9.2f}x")
    print(f"{'bytes per tick on disk (db+WAL, checkpointed)':<44} {size / committed:>14.1f}")
    for label, plain_size in plain_sizes.items():
        what = f"bytes per row on disk ({label}) plain executemany"
        print(f"{what:<44} {plain_size / committed:>14.1f}")
    print(f"{'peak RSS MiB of the process':<44} {peak_rss_mib:>14.0f}")
    print(f"{'price history p50 ms, ours':<44} {ours_ms:>14.3f}")
    print(f"{'price history p50 ms, spec table':<44} {spec_ms:>14.3f} {ours_ms / spec_ms:>9.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end.")
    print(
        f"batch_size={settings.batch_size} linger_ms={settings.linger_ms} "
        f"queue_size={settings.queue_size}; ratios: ours / reference. Price history: "
        f"{QUERIES} warm queries, {WINDOW:.0f} s windows; ours on {committed:,} rows, "
        f"spec on {n_query:,}."
    )
    print()
    every = modes[0][4]
    print(
        f"{'recorded Binance, mode':<24} {'accepted':>9} {'stored':>8} {'in table':>9} "
        f"{'bytes':>11} {'vs every':>9}"
    )
    for label, accepted, stored, in_table, size_b in modes:
        print(
            f"{label:<24} {accepted:>9,} {stored:>8,} {in_table:>9,} {size_b:>11,} "
            f"{size_b / every:>8.2f}x"
        )
    print(
        "stored: ticks the pipeline wrote; in table: rows after INSERT OR REPLACE (differing "
        "quotes sharing a whole-ms USD-M timestamp are stored 1 us apart, so none is lost)."
    )


if __name__ == "__main__":
    main()
