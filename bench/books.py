"""Order books into arbot.db: the daemon's writer (Book -> snapshot/delta rows, storage/
book_rows.py, in one transaction a batch) against a plain executemany of the same rows, and
what a book costs on disk. `python -m bench.books`.

A realistic mix (ARBOT_BENCH_BOOKS updates, default 300,000): 100 keys (20 symbols x 5
exchanges), 10-20 levels a side, each update changing 1-10 levels (mostly amounts near the
top, some levels appearing or going, the best price moving), 5 updates/s a key of market
clock (a snapshot every 300 updates of a key). Measured in the same run, best of
ARBOT_BENCH_BOOK_ROUNDS (default 3) interleaved rounds, batches of storage.batch_size:
  * the Writer: Books in, rows committed (encoding included);
  * plain sqlite3 executemany of the rows the writer stored (encoded beforehand, untimed),
    and the same with the encoding (BookRows, the writer's codec) timed before each batch;
  * the encoding alone (µs an update);
  * bytes: the packed levels of a delta and of a snapshot, and the `books` B-tree's pages
    per update (index included: the table is its primary key), as written by the writer.
With the server binaries installed, the same on PostgreSQL (PgWriter against psycopg COPY
of the same rows, encoded in the loop and beforehand; bytes per update: heap + primary
key). The goal's baseline is the plain loop with the codec, as ingest's plain loop holds
the ticks' encoding in its INSERT."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from tests.postgres.cluster import ENABLE_HINT, Cluster, server_bindir

from arbot.metrics import Metrics
from arbot.models import Book, Level
from arbot.settings import PostgresSettings, StorageSettings
from arbot.storage.book_rows import COLUMNS, BookRows, Row
from arbot.storage.books import DELTA
from arbot.storage.pg.books_sql import COPY_SQL, TYPES
from arbot.storage.pg.partitions import day_of, ensure_days
from arbot.storage.pg.schema import migrate
from arbot.storage.pg.writer import PgWriter
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import Writer

EXCHANGES = tuple(f"ex{i}" for i in range(5))
SYMBOLS = tuple(f"S{i:02d}/USDT" for i in range(20))
KEYS = tuple((e, s) for s in SYMBOLS for e in EXCHANGES)
T0 = 1_700_000_000.0
RATE = 500.0  # updates a second, all keys: 5 a key
BATCH = StorageSettings().batch_size
ROUNDS = int(os.environ.get("ARBOT_BENCH_BOOK_ROUNDS", "3"))
PLAIN_SQL = f"INSERT OR REPLACE INTO books ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"


class _Venue:
    """One key's book in ticks and lots (tick 0.01, lot 1e-5, as BTC on most venues)."""

    def __init__(self, rng: random.Random, depth: int) -> None:
        self.depth = depth
        mid = rng.randint(100_000, 7_000_000)
        self.bids = {mid - k: rng.randint(1, 300_000) for k in range(1, 2 * depth)}
        self.asks = {mid + k: rng.randint(1, 300_000) for k in range(1, 2 * depth)}

    def update(self, rng: random.Random) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        for _ in range(rng.randint(1, 10)):
            bid = rng.random() < 0.5
            side = self.bids if bid else self.asks
            top = sorted(side, reverse=bid)[: self.depth]
            roll = rng.random()
            if roll < 0.7:  # an amount near the top
                side[top[min(int(rng.expovariate(0.4)), len(top) - 1)]] = rng.randint(1, 300_000)
            elif roll < 0.85 and len(side) > self.depth:  # a level goes (maybe the best)
                del side[top[min(int(rng.expovariate(0.5)), len(top) - 1)]]
            else:  # a level appears inside the top, or a new best
                inner = max(self.bids) + 1 if not bid else min(self.asks) - 1
                price = rng.randint(min(top), max(top)) if rng.random() < 0.7 else inner
                if self.bids.get(price) is None and self.asks.get(price) is None:
                    side[price] = rng.randint(1, 300_000)
        return self._side(self.bids, True), self._side(self.asks, False)

    def _side(self, levels: dict[int, int], bid: bool) -> tuple[Level, ...]:
        top = sorted(levels, reverse=bid)[: self.depth]
        return tuple((p / 100, levels[p] / 100_000) for p in top)


def updates(n: int, seed: int = 1) -> list[Book]:
    rng = random.Random(seed)
    venues = {key: _Venue(rng, rng.randint(10, 20)) for key in KEYS}
    out = []
    for i in range(n):
        key = KEYS[rng.randrange(len(KEYS))]
        ts = round(T0 + i / RATE, 4)
        bids, asks = venues[key].update(rng)
        out.append(Book(key[0], key[1], bids, asks, ts, ts + 0.02))
    return out


def fresh(root: Path, name: str) -> Path:
    data_dir = root / name
    data_dir.mkdir()
    return data_dir


async def writer_run(data_dir: Path, books: list[Book]) -> float:
    writer = Writer.open(StorageSettings(data_dir=data_dir), Metrics())
    start = time.perf_counter()
    for i in range(0, len(books), BATCH):
        writer.add([], [], books[i : i + BATCH])
        await writer.flush()
    elapsed = time.perf_counter() - start
    await writer.close()
    return elapsed


def plain_run(data_dir: Path, rows: list[tuple[object, ...]]) -> float:
    conn = open_database(data_dir, "arbot", None)
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(PLAIN_SQL, rows[i : i + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def encoded_run(data_dir: Path, books: list[Book]) -> float:
    """A plain client with the writer's codec: encode a batch, executemany it, commit."""
    conn = open_database(data_dir, "arbot", None)
    encoder = BookRows()
    start = time.perf_counter()
    for i in range(0, len(books), BATCH):
        rows, _ = encode(books[i : i + BATCH], encoder)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(PLAIN_SQL, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def encode(books: list[Book], encoder: BookRows | None = None) -> tuple[list[Row], float]:
    """The rows the writer stores for `books` (ids as the writer gives them), and seconds."""
    symbols = {s: i + 1 for i, s in enumerate(SYMBOLS)}
    exchanges = {e: i + 1 for i, e in enumerate(EXCHANGES)}
    encoder = encoder or BookRows()
    rows: list[Row] = []
    start = time.perf_counter()
    for i in range(0, len(books), BATCH):
        encoded = encoder.rows(books[i : i + BATCH], symbols, exchanges, lambda keys: {})
        encoder.commit()
        rows += encoded.rows + encoded.replacing
    return rows, time.perf_counter() - start


def stored_bytes(data_dir: Path) -> tuple[int, int]:
    conn = sqlite3.connect(data_dir / "arbot.db")
    pages = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'books'").fetchone()[0]
    count = conn.execute("SELECT count(*) FROM books").fetchone()[0]
    conn.close()
    return int(pages), int(count)


async def pg_writer_run(settings: PostgresSettings, books: list[Book]) -> float:
    writer = PgWriter(settings, Metrics())
    await asyncio.to_thread(writer.resume_state)  # connect, migrate, lock: not timed
    start = time.perf_counter()
    for i in range(0, len(books), BATCH):
        writer.add([], [], books[i : i + BATCH])
        await writer.flush()
    elapsed = time.perf_counter() - start
    await writer.close()
    return elapsed


def pg_copy_run(conninfo: str, rows: list[Row]) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor().copy(COPY_SQL) as copy:
                copy.set_types(TYPES)
                for row in rows[i : i + BATCH]:
                    copy.write_row(row)
        return time.perf_counter() - start


def pg_copy_encoded_run(conninfo: str, books: list[Book]) -> float:
    """A plain client with the writer's codec: encode a batch, COPY it, commit."""
    encoder = BookRows()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(0, len(books), BATCH):
            rows, _ = encode(books[i : i + BATCH], encoder)
            with conn.transaction(), conn.cursor().copy(COPY_SQL) as copy:
                copy.set_types(TYPES)
                for row in rows:
                    copy.write_row(row)
        return time.perf_counter() - start


def pg_reset(conninfo: str) -> tuple[float, int]:
    """Bytes per row of what is stored (heap + primary key, all partitions), then empty."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE books")
        size, count = conn.execute(
            "SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'books'::regclass), (SELECT count(*) FROM books)"
        ).fetchone() or (0, 0)
        conn.execute("TRUNCATE books")
    return float(size or 0) / max(count, 1), int(count)


def postgres(books: list[Book], rows: list[Row]) -> None:
    """The same mix into PostgreSQL, best of ROUNDS: PgWriter against a plain client
    encoding with the same codec then COPYing, and against a raw COPY of encoded rows."""
    bindir = server_bindir()
    if bindir is None:
        print(ENABLE_HINT)
        return
    cluster = Cluster(bindir)
    best = {"writer": 0.0, "copy": 0.0, "encoded": 0.0}
    per_update = 0.0
    n = len(books)
    try:
        cluster.init()
        cluster.start(durable=True)
        conninfo = cluster.conninfo()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn)
            ensure_days(conn, {day_of(books[0].timestamp), day_of(books[-1].timestamp)})
        # The writer gives names ids in order of first sight; the plain rows assume theirs.
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("INSERT INTO symbols (id, name) SELECT i, n FROM unnest(%s::text[]) "
                         "WITH ORDINALITY AS u(n, i)", (list(SYMBOLS),))  # fmt: skip
            conn.execute("INSERT INTO exchanges (id, name) SELECT i, n FROM unnest(%s::text[]) "
                         "WITH ORDINALITY AS u(n, i)", (list(EXCHANGES),))  # fmt: skip
        for round_no in range(ROUNDS):
            print(f"  PostgreSQL round {round_no + 1}: PgWriter, COPY ...", flush=True)
            seconds = asyncio.run(pg_writer_run(PostgresSettings(conninfo=conninfo), books))
            best["writer"] = max(best["writer"], n / seconds)
            stored, _ = pg_reset(conninfo)
            per_update = per_update or stored
            best["copy"] = max(best["copy"], n / pg_copy_run(conninfo, rows))
            pg_reset(conninfo)
            best["encoded"] = max(best["encoded"], n / pg_copy_encoded_run(conninfo, books))
            pg_reset(conninfo)
    finally:
        cluster.remove()
    w, c, e = best["writer"], best["copy"], best["encoded"]
    print(f"{'PgWriter book updates/s (Book -> rows -> COPY)':<58} {w:>12,.0f}")
    print(f"{'plain loop: same books, same codec, COPY, /s':<58} {e:>12,.0f} {w / e:>6.2f}x")
    print(f"{'raw binary COPY of the same rows, rows/s':<58} {c:>12,.0f} {w / c:>6.2f}x")
    print(f"{'PostgreSQL bytes per update (heap + primary key)':<58} {per_update:>12.1f}")


def main() -> None:
    n = int(os.environ.get("ARBOT_BENCH_BOOKS", "300000"))
    books = updates(n)
    rows, _ = encode(books)
    deltas = [len(r[5]) for r in rows if r[3] == DELTA]
    snapshots = [len(r[5]) for r in rows if r[3] != DELTA]
    best = {"writer": 0.0, "plain": 0.0, "encoded": 0.0}
    encoding: list[float] = []
    per_update = 0.0
    with tempfile.TemporaryDirectory(prefix="arbot-bench-books-") as tmp:
        root = Path(tmp)
        for round_no in range(ROUNDS):
            print(f"  round {round_no + 1}: writer, plain executemany ...", flush=True)
            data_dir = fresh(root, f"w{round_no}")
            best["writer"] = max(best["writer"], n / asyncio.run(writer_run(data_dir, books)))
            if round_no == 0:
                pages, count = stored_bytes(data_dir)
                per_update = pages / count
            plain_dir = fresh(root, f"p{round_no}")
            best["plain"] = max(best["plain"], n / plain_run(plain_dir, list(rows)))
            encoded_dir = fresh(root, f"e{round_no}")
            best["encoded"] = max(best["encoded"], n / encoded_run(encoded_dir, books))
            encoding.append(encode(books)[1] / n * 1e6)
    w, p, e = best["writer"], best["plain"], best["encoded"]
    print(f"{'measure':<58} {'value':>12} {'ratio':>7}")
    print("-" * 79)
    print(f"{'Writer book updates/s (Book -> rows -> commit)':<58} {w:>12,.0f}")
    # The goal's baseline, measured as ingest's plain loop is: the same input stored as
    # the same rows by a plain loop (for ticks the encoding is inside its INSERT).
    print(f"{'plain loop: same books, same codec, executemany, /s':<58} {e:>12,.0f} {w / e:>6.2f}x")
    print(f"{'executemany of the rows encoded beforehand, rows/s':<58} {p:>12,.0f} {w / p:>6.2f}x")
    print(f"{'encoding alone, µs an update (best round)':<58} {min(encoding):>12.2f}")
    print(f"{'packed levels of a delta, bytes (mean)':<58} {statistics.mean(deltas):>12.1f}")
    print(f"{'packed levels of a snapshot, bytes (mean)':<58} {statistics.mean(snapshots):>12.1f}")
    print(f"{'books B-tree bytes per update (pages / rows)':<58} {per_update:>12.1f}")
    print(
        f"{n:,} updates of {len(KEYS)} keys, {len(snapshots):,} snapshots "
        f"({100 * len(snapshots) / len(rows):.1f} %); batch {BATCH}; best of {ROUNDS} rounds."
    )
    postgres(books, rows)


if __name__ == "__main__":
    main()
