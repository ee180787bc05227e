"""Ticks into PostgreSQL: the daemon's writer against raw drivers, on a throw-away durable
cluster (fsync on) started from the installed server binaries.

Measured in the same run, same rows (ARBOT_BENCH_PG_ROWS, default 1,000,000; 100 symbols x
20 exchanges), batches of storage.batch_size, one transaction each:
  * PgWriter: Tick objects -> rows -> binary COPY, as the daemon's sink hands it batches
    (name ids, partitions, retries included); best of ARBOT_BENCH_PG_ROUNDS (default 3)
    interleaved rounds, as the raw COPY loops;
  * raw binary COPY of prebuilt rows: psycopg 3 and asyncpg (the driver choice);
  * psycopg executemany (ARBOT_BENCH_PG_EXECMANY_ROWS, default 100,000: it is slow);
  * bytes per tick on disk (heap + primary key + BRIN, all partitions);
  * 1 vs 2 shard daemons (two processes, each its half of the symbols, one server).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psycopg
from tests.postgres.cluster import ENABLE_HINT, Cluster, server_bindir

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import PostgresSettings, ShardSettings, StorageSettings
from arbot.storage.pg.partitions import ensure_days
from arbot.storage.pg.schema import migrate
from arbot.storage.pg.shard import owns
from arbot.storage.pg.ticks_sql import COPY_SQL, TYPES
from arbot.storage.pg.writer import PgWriter

EXCHANGES = tuple(f"ex{i:02d}" for i in range(20))
SYMBOLS = tuple(f"S{i:03d}/USDT" for i in range(100))
T0 = 1_700_000_000.0
STEP = 0.0001
BATCH = StorageSettings().batch_size
ROUNDS = int(os.environ.get("ARBOT_BENCH_PG_ROUNDS", "3"))
COLUMNS = ["ts", "bid", "ask", "bid_size", "ask_size", "recv_delta_ms", "symbol_id", "exchange_id"]


def ticks(n: int, shard: ShardSettings | None = None) -> list[Tick]:
    out = []
    for i in range(n):
        symbol = SYMBOLS[i % 100]
        if shard is not None and not owns(shard, symbol):
            continue
        ts = T0 + i * STEP
        bid = 100.0 + (i % 100) * 10.0 + (i % 89) * 0.01
        out.append(
            Tick(EXCHANGES[(i // 100) % 20], symbol, bid, bid + 0.01, 1.5, 2.5, ts, ts + 0.02)
        )
    return out


def rows_of(batch: list[Tick]) -> list[tuple[Any, ...]]:
    """Rows as a plain client would prepare them (ids known)."""
    sid = {s: i + 1 for i, s in enumerate(SYMBOLS)}
    eid = {e: i + 1 for i, e in enumerate(EXCHANGES)}
    return [
        (t.timestamp, t.bid, t.ask, t.bid_size, t.ask_size, 20, sid[t.symbol], eid[t.exchange])
        for t in batch
    ]


def reset(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE ticks")
        conn.execute("CHECKPOINT")


async def pgwriter(settings: PostgresSettings, data: list[Tick], shard: ShardSettings) -> float:
    writer = PgWriter(settings, Metrics(), shard=shard)
    await asyncio.to_thread(writer.resume_state)  # connect, migrate, lock: not timed
    start = time.perf_counter()
    for i in range(0, len(data), BATCH):
        writer.add(data[i : i + BATCH])
        await writer.flush()
    elapsed = time.perf_counter() - start
    await writer.close()
    return elapsed


def psycopg_copy(conninfo: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor().copy(COPY_SQL) as copy:
                copy.set_types(TYPES)
                for row in rows[i : i + BATCH]:
                    copy.write_row(row)
        return time.perf_counter() - start


async def asyncpg_copy(cluster: Cluster, rows: list[tuple[Any, ...]]) -> float:
    conn = await asyncpg.connect(host=str(cluster.socket_dir), user="postgres", database="postgres")
    try:
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "ticks", records=rows[i : i + BATCH], columns=COLUMNS
                )
        return time.perf_counter() - start
    finally:
        await conn.close()


def executemany(conninfo: str, rows: list[tuple[Any, ...]]) -> float:
    sql = f"INSERT INTO ticks ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction():
                conn.cursor().executemany(sql, rows[i : i + BATCH])
        return time.perf_counter() - start


def bytes_per_tick(conninfo: str) -> tuple[float, int]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ticks")  # visibility map and FSM, as after autovacuum
        size, count = conn.execute(
            "SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'ticks'::regclass), (SELECT count(*) FROM ticks)"
        ).fetchone() or (0, 0)
    return float(size) / max(count, 1), int(count)


def shard_child(conninfo: str, index: int, count: int, n: int) -> None:
    """One shard daemon's writer in its own process; prints its seconds."""
    shard = ShardSettings(index=index, count=count)
    data = ticks(n, shard)
    seconds = asyncio.run(pgwriter(PostgresSettings(conninfo=conninfo), data, shard))
    print(f"{len(data)} {seconds}", flush=True)


def shards(conninfo: str, count: int, n: int) -> tuple[int, float]:
    """Ticks committed and wall seconds (the slowest shard) for `count` concurrent shards."""
    reset(conninfo)
    code = (
        "import sys; from bench.postgres import shard_child; "
        "shard_child(sys.argv[1], *map(int, sys.argv[2:]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, conninfo, str(i), str(count), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    results = [p.communicate()[0].split() for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("a shard process failed")
    return sum(int(r[0]) for r in results), max(float(r[1]) for r in results)


def main() -> None:
    bindir = server_bindir()
    if bindir is None:
        print(ENABLE_HINT)
        return
    n = int(os.environ.get("ARBOT_BENCH_PG_ROWS", "1000000"))
    n_many = int(os.environ.get("ARBOT_BENCH_PG_EXECMANY_ROWS", "100000"))
    cluster = Cluster(bindir)
    try:
        cluster.init()
        cluster.start(durable=True)
        conninfo = cluster.conninfo()
        settings = PostgresSettings(conninfo=conninfo)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn)
            ensure_days(conn, {int(T0 // 86400)})
        data = ticks(n)
        rows = rows_of(data)
        # Best of ROUNDS, rounds interleaved: the machine is shared, so one slow spell
        # must not decide a ratio.
        results: dict[str, float] = {"writer": 0.0, "psycopg": 0.0, "asyncpg": 0.0}
        per_tick, stored = 0.0, 0
        for round_no in range(ROUNDS):
            print(f"  round {round_no + 1}: PgWriter, raw COPY psycopg / asyncpg ...", flush=True)
            reset(conninfo)
            seconds = asyncio.run(pgwriter(settings, data, ShardSettings()))
            results["writer"] = max(results["writer"], n / seconds)
            if round_no == 0:
                per_tick, stored = bytes_per_tick(conninfo)
            reset(conninfo)
            results["psycopg"] = max(results["psycopg"], n / psycopg_copy(conninfo, rows))
            reset(conninfo)
            seconds = asyncio.run(asyncpg_copy(cluster, rows))
            results["asyncpg"] = max(results["asyncpg"], n / seconds)
        print(f"  executemany: {n_many:,} rows ...", flush=True)
        reset(conninfo)
        results["executemany"] = n_many / executemany(conninfo, rows[:n_many])
        print("  1 vs 2 shard daemons ...", flush=True)
        one, one_s = shards(conninfo, 1, n)
        two, two_s = shards(conninfo, 2, n)
    finally:
        cluster.remove()
    w = results["writer"]
    print(f"{'measure':<52} {'value':>12} {'ratio':>8}")
    print("-" * 74)
    print(f"{'PgWriter ticks/s (Tick -> binary COPY, per batch)':<52} {w:>12,.0f}")
    for key, label in (
        ("psycopg", "raw binary COPY rows/s, psycopg 3"),
        ("asyncpg", "raw binary COPY rows/s, asyncpg"),
        ("executemany", "executemany rows/s, psycopg 3"),
    ):
        print(f"{label:<52} {results[key]:>12,.0f} {w / results[key]:>7.2f}x")
    print(f"{'bytes per tick (heap + primary key + BRIN)':<52} {per_tick:>12.1f}")
    print(f"{'1 shard daemon ticks/s':<52} {one / one_s:>12,.0f}")
    scale = (two / two_s) / (one / one_s)
    print(f"{'2 shard daemons ticks/s (together)':<52} {two / two_s:>12,.0f} {scale:>7.2f}x")
    print(
        f"{stored:,} ticks stored; batch {BATCH}; durable cluster (fsync on); best of {ROUNDS} "
        f"interleaved rounds; ratios: PgWriter / reference, 2 shards / 1. Load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end (the server shares them)."
    )


if __name__ == "__main__":
    main()
