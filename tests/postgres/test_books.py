"""Order books through the real writer, on SQLite and PostgreSQL alike: every stored instant
rebuilds to the book written (snapshots and deltas, several keys, resyncs, books of the
same instant and stamped earlier, two writer sessions, batches cut anywhere, a batch
retried), the snapshot rules hold in what is stored, books are counted, and retention
leaves what remains rebuildable."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from arbot.metrics import Metrics
from arbot.models import Book, FeedGap
from arbot.settings import PostgresSettings, RetentionSettings
from arbot.storage.backend import backend_of
from arbot.storage.books import DELTA, RESYNC, SNAPSHOT_SECONDS, read_book
from arbot.storage.pg.connect import connect
from arbot.storage.pg.partitions import ensure_days
from arbot.storage.pg.schema import migrate, migrations
from tests.helpers import sample
from tests.postgres.backends import Backend
from tests.storage.books_data import random_books, stored_instants

DAY = 86_400
# Two minutes before a UTC midnight: the streams cross it.
T0 = 19_700 * DAY - 120.0
ROWS = (
    "SELECT s.name, e.name, b.ts, b.kind FROM books AS b "
    "JOIN symbols AS s ON s.id = b.symbol_id JOIN exchanges AS e ON e.id = b.exchange_id "
    "ORDER BY s.name, e.name, b.ts"
)


async def write(
    backend: Backend, metrics: Metrics, books: list[Book], *, seed: int = 0, sessions: int = 2
) -> int:
    """`books` in random batches over `sessions` writers; returns the books committed."""
    rng = random.Random(seed)
    committed = 0
    per_session = -(-len(books) // sessions)
    for start in range(0, len(books), per_session):
        writer = backend.writer(metrics)
        part = books[start : start + per_session]
        i = 0
        while i < len(part):
            n = rng.choice((1, 7, 50, 300))
            writer.add([], [], part[i : i + n])
            i += n
            await writer.flush()
        await writer.close()
        committed += writer.books_committed
    return committed


@contextmanager
def reading(backend: Backend) -> Iterator[Any]:
    with backend.db() as db:
        yield db.conn


def check_every_instant(backend: Backend, books: list[Book], since: float = 0.0) -> int:
    """Each stored instant at or after `since` rebuilds to its book; just before a key's
    first instant there is none. Returns the instants checked."""
    expected = stored_instants(books)
    firsts: dict[tuple[str, str], float] = {}
    with reading(backend) as conn:
        for (exchange, symbol, ts), want in expected.items():
            if ts < since:
                continue
            firsts.setdefault((exchange, symbol), ts)
            got = read_book(conn, exchange, symbol, ts)
            assert got is not None, (exchange, symbol, ts)
            assert got._replace(received=want.received) == want, (exchange, symbol, ts)
            assert abs(got.received - want.received) <= 0.0005
        if since == 0.0:
            for (exchange, symbol), ts in firsts.items():
                assert read_book(conn, exchange, symbol, ts - 0.001) is None
    return sum(1 for key in expected if key[2] >= since)


async def test_every_stored_instant_rebuilds_to_the_book_written(
    backend: Backend, metrics: Metrics
) -> None:
    books = random_books(7, 2500, start=T0)
    assert books[-1].timestamp - books[0].timestamp > 4 * SNAPSHOT_SECONDS
    assert await write(backend, metrics, books) == len(books)
    assert sample(metrics, "arbot_books_committed_total") == len(books)
    assert check_every_instant(backend, books) > 2000
    # The backend's own reader gives the same book.
    last = books[-1]
    stored = backend_of(backend.settings).book_at(last.exchange, last.symbol, last.timestamp + 1)
    assert stored is not None and stored.bids == last.bids and stored.asks == last.asks


async def test_snapshots_at_least_every_60_s_after_resyncs_and_each_day(
    backend: Backend, metrics: Metrics
) -> None:
    books = random_books(11, 2000, start=T0, resync_rate=0.02)
    await write(backend, metrics, books, sessions=1)
    rows = backend.rows(ROWS)
    snapshot_at: dict[tuple[str, str], float] = {}
    for symbol, exchange, ts, kind in rows:
        key = (exchange, symbol)
        if kind == DELTA:
            assert key in snapshot_at, "a key's first row is a snapshot"
            assert ts - snapshot_at[key] < SNAPSHOT_SECONDS
            assert ts // DAY == snapshot_at[key] // DAY
        else:
            snapshot_at[key] = ts
    resyncs = {key for key, b in stored_instants(books).items() if b.resync}
    assert resyncs and {(e, s, ts) for s, e, ts, kind in rows if kind == RESYNC} == resyncs
    assert sum(kind == DELTA for *_, kind in rows) > 0.9 * len(rows)


async def test_a_retried_batch_is_encoded_again_from_what_was_committed(
    backend: Backend, metrics: Metrics
) -> None:
    books = random_books(3, 300, start=T0)
    writer = backend.writer(metrics)
    writer.add([], [], books[:100])
    await writer.flush()
    async with backend.failing_writes(metrics, times=2):
        gap = FeedGap("okx", T0, T0 + 1, "test")
        writer.add([], [gap], books[100:200])
        await writer.flush()
    # A record failing for good after the books: dropped, the batch written again.
    writer.add([], [backend.failing_record()], books[200:250])
    await writer.flush()
    writer.add([], [], books[250:])
    await writer.close()
    assert sample(metrics, "arbot_write_errors_total", kind="locked") >= 2
    assert sum(writer.records_dropped.values()) == 1
    assert writer.books_committed == len(books)
    check_every_instant(backend, books)


async def test_a_later_session_goes_on_after_what_is_stored(
    backend: Backend, metrics: Metrics
) -> None:
    def book(ts: float, best: float, resync: bool = False) -> Book:
        return Book("okx", "BTC/USDT", ((best, 1.0),), ((best + 1, 2.0),), ts, ts, resync)

    first = [book(T0, 100.0), book(T0 + 1, 101.0, resync=True), book(T0 + 2, 102.0)]
    later = [book(T0 + 2, 103.0), book(T0 + 1.5, 104.0), book(T0 + 3, 105.0)]
    await write(backend, metrics, first, sessions=1)
    await write(backend, metrics, later, sessions=1)
    rows = [(ts, kind) for _, _, ts, kind in backend.rows(ROWS)]
    assert [ts for ts, _ in rows] == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert rows[2][1] != DELTA  # a new session's first row is a snapshot
    check_every_instant(backend, first + later)


async def test_retention_keeps_what_remains_rebuildable(backend: Backend, metrics: Metrics) -> None:
    """Books over three days, dense around the midnights and the cutoff: retention deletes
    what is older than retention.tickers_days, starting each key at a snapshot, and all of a
    key with nothing newer."""
    day0 = 19_700 * DAY
    gone = (("kraken", "XRP/USDT"),)  # a key with nothing after day 0
    books = [
        *random_books(1, 600, start=day0 + 600),
        *random_books(5, 100, start=day0 + 600, keys=gone),
        *random_books(2, 600, start=day0 + DAY - 60),
        *random_books(3, 1500, start=day0 + 1.5 * DAY - 150),
        *random_books(4, 600, start=day0 + 2 * DAY - 60),
    ]
    await write(backend, metrics, books, sessions=1)
    before = len(backend.rows(ROWS))
    settings = backend.settings.model_copy(update={"retention": RetentionSettings(tickers_days=1)})
    cutoff = day0 + 1.5 * DAY
    backend_of(settings).prune(cutoff + DAY)
    rows = backend.rows(ROWS)
    assert 0 < len(rows) < before
    assert min(ts for _, _, ts, _ in rows) <= cutoff  # never more than what is out of retention
    first: dict[tuple[str, str], tuple[float, int]] = {}
    for symbol, exchange, ts, kind in rows:
        first.setdefault((exchange, symbol), (ts, kind))
    assert all(kind != DELTA for _, kind in first.values())
    assert gone[0] not in first
    oldest = max(ts for ts, _ in first.values())
    assert check_every_instant(backend, books, since=oldest) > 500


def test_an_upgraded_database_gets_book_partitions_for_its_days(
    pg_settings: PostgresSettings,
) -> None:
    """pg_003 gives each day that has a ticks partition its books partition, and the
    partition function makes both from then on."""
    with connect(pg_settings) as conn:
        conn.execute("CREATE SCHEMA before_books")
        conn.execute("SET search_path = before_books")
        scripts = migrations()
        migrate(conn, scripts[:2])
        ensure_days(conn, [19_700, 19_701])
        migrate(conn)
        ensure_days(conn, [19_702])
        names = conn.execute(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'books'::regclass ORDER BY 1"
        ).fetchall()
    assert [n for (n,) in names] == ["books_20231209", "books_20231210", "books_20231211"]
