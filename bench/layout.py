"""How `tickers` is stored: ingestion rate, bytes per row and price-history query time of the
spec-literal table against ours (`ticks` behind the `tickers` view), all from one run.

Layouts, each in its own fresh file with the project's connection pragmas (WAL,
synchronous=NORMAL, the default cache), so only the layout differs:
  spec      the spec's `tickers` table with every spec index (incl. idx_tickers_composite);
            executemany in batches of 1k and 10k, and the spec's per-row insert + commit
            (`insert_ticker`) for a bounded sample;
  unique    the spec's columns in a plain rowid table with only UNIQUE(symbol, exchange,
            timestamp);
  ours      arbot.db as migrated, written as storage/sqlite/writer.py does (multi-row INSERTs that
            resolve integer symbol/exchange ids and encode prices in SQL).
Data: 200 symbols x 20 exchanges, each round a shuffled pass over all pairs, timestamps
increasing by 0.5 ms per row, random-walk prices; the same seeded rows for every layout.

Environment: ARBOT_BENCH_LAYOUT_ROWS (default 1,000,000) rows per layout;
ARBOT_BENCH_LAYOUT_SPEC_ROWS (default: the same) caps the spec layout, whose ingestion is
slow; ARBOT_BENCH_LAYOUT_PER_ROW (default 20,000) rows of the per-row commit sample.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from arbot.storage.connection import connect
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import MAX_ROWS_PER_STATEMENT, insert_ticks_sql

SPEC_SQL = Path(__file__).resolve().parents[1] / "tests" / "data" / "spec_schema.sql"
SYMBOLS = tuple(f"S{i:03d}/USDT" for i in range(200))
EXCHANGES = tuple(f"ex{i:02d}" for i in range(20))
T0 = 1_700_000_000.0
STEP = 0.0005  # seconds between consecutive rows: 2,000 ticks/s across all pairs
SEED = 20240808
HISTORY_QUERIES = 200
HISTORY_WINDOW = 0.1  # fraction of the time span, ending at the last row

SPEC_INSERT = """INSERT OR REPLACE INTO tickers
    (symbol, exchange, bid, ask, bid_size, ask_size, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)"""
PRICE_HISTORY = """SELECT timestamp, bid, ask, bid_size, ask_size
    FROM tickers
    WHERE symbol = ? AND exchange = ?
    AND timestamp BETWEEN ? AND ?
    ORDER BY timestamp ASC"""
UNIQUE_ONLY_DDL = """CREATE TABLE tickers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    exchange TEXT NOT NULL,
    bid REAL NOT NULL,
    ask REAL NOT NULL,
    bid_size REAL,
    ask_size REAL,
    timestamp REAL NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(symbol, exchange, timestamp)
)"""

Row = tuple[str, str, float, float, float, float, float]


def spec_tickers_ddl() -> list[str]:
    """The spec's CREATE statements for tickers (table and all its indexes), verbatim."""
    statements, buf = [], ""
    for line in SPEC_SQL.read_text(encoding="utf-8").splitlines(keepends=True):
        if not buf and line.lstrip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    return [s for s in statements if " tickers" in s or " tickers(" in s]


def generate(n: int) -> Iterator[Row]:
    """`n` ticks: shuffled rounds over all pairs, increasing timestamps, random-walk mids."""
    rng = random.Random(SEED)
    pairs = [(s, e) for s in SYMBOLS for e in EXCHANGES]
    mids = {p: 100.0 + 900.0 * rng.random() for p in pairs}
    i = 0
    while i < n:
        rng.shuffle(pairs)
        for pair in pairs:
            if i >= n:
                return
            mid = mids[pair] * (1.0 + (rng.random() - 0.5) * 2e-4)
            mids[pair] = mid
            half = mid * 5e-5
            yield (*pair, mid - half, mid + half, rng.random(), rng.random(), T0 + i * STEP)
            i += 1


def batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def written_bytes() -> int | None:
    """Bytes this process passed to write() so far (Linux), i.e. WAL and checkpoint writes."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    setup: Callable[[sqlite3.Connection], None]
    write: Callable[[sqlite3.Connection, list[Row]], None]
    table: str  # the physical table, for counting stored rows


@dataclass(frozen=True, slots=True)
class Result:
    layout: str
    batch: str
    rows: int
    rows_per_s: float
    bytes_per_row: float
    written_per_row: float | None
    history_ms: float | None


def ingest(layout: Layout, batch: str, path: Path, rows: int, size: int) -> Result:
    """Time `layout.write` over `rows` generated rows in transactions of `size` rows; only
    the SQLite calls are timed (row generation is not)."""
    conn = setup_connection(path, layout.setup)
    base = path.stat().st_size
    before = written_bytes()
    elapsed = 0.0
    for chunk in batches(generate(rows), size):
        start = time.perf_counter()
        if size == 1:
            layout.write(conn, chunk)  # autocommit: one transaction per row, like insert_ticker
        else:
            conn.execute("BEGIN")
            layout.write(conn, chunk)
            conn.execute("COMMIT")
        elapsed += time.perf_counter() - start
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = written_bytes()
    stored = conn.execute(f"SELECT count(*) FROM {layout.table}").fetchone()[0]
    # The per-row sample is too small for a comparable query time.
    history = price_history_ms(conn, rows) if size > 1 else None
    conn.close()
    return Result(
        layout.name,
        batch,
        stored,
        rows / elapsed,
        (path.stat().st_size - base) / stored,
        None if before is None or after is None else (after - before) / stored,
        history,
    )


def setup_connection(path: Path, setup: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    conn = open_database(path.parent, "arbot") if path.name == "arbot.db" else connect(path)
    setup(conn)
    return conn


def price_history_ms(conn: sqlite3.Connection, rows: int) -> float:
    """Median time of the spec's price-history query over the last HISTORY_WINDOW of the data
    (warm cache: one untimed pass first)."""
    end = T0 + (rows - 1) * STEP
    start = end - (rows - 1) * STEP * HISTORY_WINDOW
    rng = random.Random(SEED + 1)
    pairs = [(rng.choice(SYMBOLS), rng.choice(EXCHANGES)) for _ in range(HISTORY_QUERIES)]
    times = []
    for timed in (False, True):
        for symbol, exchange in pairs:
            t = time.perf_counter()
            conn.execute(PRICE_HISTORY, (symbol, exchange, start, end)).fetchall()
            if timed:
                times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def spec_setup(conn: sqlite3.Connection) -> None:
    for statement in spec_tickers_ddl():
        conn.execute(statement)


def unique_setup(conn: sqlite3.Connection) -> None:
    conn.execute(UNIQUE_ONLY_DDL)


def spec_write(conn: sqlite3.Connection, chunk: list[Row]) -> None:
    conn.executemany(SPEC_INSERT, chunk)


def ours_setup(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO symbols(id, name) VALUES (?, ?)", enumerate(SYMBOLS, 1))
    conn.executemany("INSERT INTO exchanges(id, name) VALUES (?, ?)", enumerate(EXCHANGES, 1))
    conn.execute("COMMIT")


EXCHANGE_IDS = {name: i for i, name in enumerate(EXCHANGES, 1)}
SYMBOL_IDS = {name: i for i, name in enumerate(SYMBOLS, 1)}


def ours_write(conn: sqlite3.Connection, chunk: list[Row]) -> None:
    for start in range(0, len(chunk), MAX_ROWS_PER_STATEMENT):
        part = chunk[start : start + MAX_ROWS_PER_STATEMENT]
        # Tick field order; received = the timestamp.
        params = [
            v
            for s, e, b, a, bs, as_, ts in part
            for v in (EXCHANGE_IDS[e], SYMBOL_IDS[s], b, a, bs, as_, ts, ts)
        ]
        conn.execute(insert_ticks_sql(len(part)), params)


SPEC = Layout("spec", spec_setup, spec_write, "tickers")
UNIQUE_ONLY = Layout("unique only", unique_setup, spec_write, "tickers")
OURS = Layout("ours (ticks)", ours_setup, ours_write, "ticks")


def run(workdir: Path) -> list[Result]:
    rows = int(os.environ.get("ARBOT_BENCH_LAYOUT_ROWS", "1000000"))
    spec_rows = int(os.environ.get("ARBOT_BENCH_LAYOUT_SPEC_ROWS", str(rows)))
    per_row = min(int(os.environ.get("ARBOT_BENCH_LAYOUT_PER_ROW", "20000")), spec_rows)
    plan = [
        (SPEC, "per-row commit", per_row, 1),
        (SPEC, "1k", spec_rows, 1_000),
        (SPEC, "10k", spec_rows, 10_000),
        (UNIQUE_ONLY, "1k", rows, 1_000),
        (UNIQUE_ONLY, "10k", rows, 10_000),
        (OURS, "1k", rows, 1_000),
        (OURS, "10k", rows, 10_000),
    ]
    results = []
    for i, (layout, batch, n, size) in enumerate(plan):
        folder = workdir / f"run{i}"
        folder.mkdir()
        path = folder / ("arbot.db" if layout is OURS else "tickers.db")
        print(f"  {layout.name}, batch {batch}: {n:,} rows ...", flush=True)
        results.append(ingest(layout, batch, path, n, size))
    return results


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}x"


def print_table(results: list[Result]) -> None:
    spec = {r.batch: r for r in results if r.layout == "spec"}
    header = (
        f"{'layout':<13} {'batch':<15} {'rows':>9} {'rows/s':>9} {'vs spec':>8} "
        f"{'B/row disk':>10} {'vs spec':>8} {'B/row written':>13} {'history ms':>10} {'vs spec':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ref = spec[r.batch]
        written = "-" if r.written_per_row is None else f"{r.written_per_row:,.0f}"
        history = "-" if r.history_ms is None else f"{r.history_ms:.3f}"
        print(
            f"{r.layout:<13} {r.batch:<15} {r.rows:>9,} {r.rows_per_s:>9,.0f} "
            f"{ratio(r.rows_per_s, ref.rows_per_s):>8} {r.bytes_per_row:>10,.1f} "
            f"{ratio(r.bytes_per_row, ref.bytes_per_row):>8} {written:>13} "
            f"{history:>10} {ratio(r.history_ms, ref.history_ms):>8}"
        )
    print(
        "vs spec: against the spec layout at the same batch size. B/row disk: file growth after "
        "a TRUNCATE checkpoint / rows stored. B/row written: bytes written (WAL + checkpoint) / "
        f"row. history ms: median of {HISTORY_QUERIES} warm price-history queries over the last "
        f"{HISTORY_WINDOW:.0%} of the data (one symbol, one exchange)."
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="arbot-bench-layout-") as tmp:
        print_table(run(Path(tmp)))


if __name__ == "__main__":
    main()
