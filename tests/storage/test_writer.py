"""The arbot.db writer: batches commit whole, ids are stable, database errors are retried."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from tests.helpers import fast_storage, read, wait_until

from arbot.metrics import Metrics
from arbot.models import ExecutionData, FeedGap, Tick
from arbot.records import TradeSettled
from arbot.storage.connection import Pragmas
from arbot.storage.gaps import insert_gap
from arbot.storage.schema import open_database
from arbot.storage.sqlite import records_sql
from arbot.storage.sqlite.writer import Writer, error_kind


def tick(i: int, exchange: str = "binance", symbol: str = "BTC/USDT") -> Tick:
    ts = 1_700_000_000.0 + i
    return Tick(exchange, symbol, 100.0 + i, 100.5 + i, 1.0, 2.0, ts, ts + 0.0125)


def open_writer(data_dir: Path, metrics: Metrics) -> Writer:
    return Writer.open(fast_storage(data_dir), metrics)


def errors(metrics: Metrics, kind: str) -> float:
    value = metrics.registry.get_sample_value("arbot_write_errors_total", {"kind": kind})
    return value or 0.0


async def test_rows_appear_in_the_tickers_view_with_spec_columns(
    data_dir: Path, metrics: Metrics
) -> None:
    """A flushed batch is readable through the spec's `tickers` view, names resolved."""
    writer = open_writer(data_dir, metrics)
    writer.add([tick(0), tick(1, "okx"), tick(2, "okx", "ETH/USDT")])
    await writer.flush()
    rows = read(
        data_dir,
        "SELECT symbol, exchange, bid, ask, bid_size, ask_size, timestamp, created_at"
        " FROM tickers ORDER BY timestamp",
    )
    assert rows == [
        ("BTC/USDT", "binance", 100.0, 100.5, 1.0, 2.0, 1_700_000_000.0, "2023-11-14 22:13:20"),
        ("BTC/USDT", "okx", 101.0, 101.5, 1.0, 2.0, 1_700_000_001.0, "2023-11-14 22:13:21"),
        ("ETH/USDT", "okx", 102.0, 102.5, 1.0, 2.0, 1_700_000_002.0, "2023-11-14 22:13:22"),
    ]
    assert read(data_dir, "SELECT DISTINCT recv_delta_ms FROM ticks") == [(13,)]
    assert writer.committed == 3
    assert metrics.registry.get_sample_value("arbot_ticks_committed_total") == 3
    await writer.close()


async def test_a_batch_spanning_several_statements_keeps_every_row_and_the_last_repeat(
    data_dir: Path, metrics: Metrics
) -> None:
    """With room for 5 rows a statement, 11 ticks go in as 4 + 4 + 2 + 1 (power-of-two
    sizes bound the prepared statements kept); a key repeated across statements ends with
    its later quote, as executemany's row-by-row replace would."""
    conn = connect_limited(data_dir, variables=5 * 8 + 3)
    conn.execute("INSERT INTO symbols (name) VALUES ('BTC/USDT')")
    conn.executemany("INSERT INTO exchanges (name) VALUES (?)", [("okx",), ("binance",)])
    sizes: list[int] = []

    def count_rows(sql: str) -> None:  # the traced SQL has its parameters expanded
        if sql.startswith("INSERT OR REPLACE INTO ticks"):
            sizes.append(sql.split("FROM (VALUES ", 1)[1].count("), (") + 1)

    conn.set_trace_callback(count_rows)
    writer = Writer(conn, metrics)
    ticks = [tick(i, "okx" if i % 2 else "binance") for i in range(10)]
    repeat = ticks[1]._replace(bid=1.0, ask=2.0)
    writer.add([*ticks, repeat])
    await writer.flush()
    assert writer.committed == 11
    assert sizes == [4, 4, 2, 1]
    rows = read(data_dir, "SELECT exchange, bid, timestamp FROM tickers ORDER BY timestamp")
    expected = [(t.exchange, t.bid, t.timestamp) for t in ticks]
    expected[1] = ("okx", 1.0, ticks[1].timestamp)
    assert rows == expected
    await writer.close()


async def test_a_full_batch_of_ticks_is_one_statement_its_own_transaction(
    data_dir: Path, metrics: Metrics
) -> None:
    """A batch of batch_size ticks with known names is one INSERT without BEGIN/COMMIT
    (SQLite commits a lone statement by itself); any other batch is BEGIN, power-of-two
    INSERTs after full-batch ones, COMMIT."""
    conn = open_database(data_dir, "arbot", Pragmas.of(fast_storage(data_dir)))
    statements: list[str] = []
    conn.set_trace_callback(lambda sql: statements.append(sql.split(" (", 1)[0]))
    writer = Writer(conn, metrics, batch_size=6)
    traced = []
    for first, end in ((0, 1), (1, 7), (7, 14)):
        writer.add(tick(i) for i in range(first, end))
        await writer.flush()
        traced.append([s for s in statements if not s.startswith(("INSERT OR IGNORE", "SELECT"))])
        statements.clear()
    insert = "INSERT OR REPLACE INTO ticks"
    assert traced == [
        ["BEGIN IMMEDIATE", insert, "COMMIT"],  # one tick
        [insert],  # a full batch
        ["BEGIN IMMEDIATE", insert, insert, "COMMIT"],  # 7 = 6 + 1
    ]
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(14,)]
    assert writer.committed == 14
    await writer.close()


async def test_a_batch_cut_while_an_earlier_one_retries_commits_after_it(
    data_dir: Path, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's first attempt starts when it is cut, but does nothing while an earlier
    batch has not committed: the later quote of a repeated key is the one stored."""
    writer = open_writer(data_dir, metrics)
    attempts = []

    def flaky(conn: sqlite3.Connection, gap: FeedGap) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("disk I/O error")
        insert_gap(conn, gap)

    monkeypatch.setitem(records_sql._WRITERS, FeedGap, flaky)
    writer.add([tick(0)._replace(bid=1.0)], [FeedGap("okx", 1.0, 2.0, "flaky")])
    first = asyncio.ensure_future(writer.flush())
    writer.add([tick(0)._replace(bid=2.0)])
    await asyncio.gather(first, writer.flush())
    assert len(attempts) == 3
    assert read(data_dir, "SELECT bid FROM tickers") == [(2.0,)]
    assert writer.committed == 2
    await writer.close()


def connect_limited(data_dir: Path, variables: int) -> sqlite3.Connection:
    conn = open_database(data_dir, "arbot", Pragmas.of(fast_storage(data_dir)))
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variables)
    return conn


async def test_records_commit_in_the_batch_transaction_in_order(
    data_dir: Path, metrics: Metrics
) -> None:
    """Records commit with the batch, in the order added."""
    writer = open_writer(data_dir, metrics)
    writer.add([tick(0)], [FeedGap("okx", 10.0, 20.0, "r0")])
    writer.add([], [FeedGap("okx", 10.0 + i, 20.0, f"r{i}") for i in (1, 2)])
    await writer.flush()
    assert read(data_dir, "SELECT id, reason FROM feed_gaps") == [(1, "r0"), (2, "r1"), (3, "r2")]
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(1,)]
    await writer.close()


async def test_first_free_ids_are_read_from_the_database(data_dir: Path, metrics: Metrics) -> None:
    """Ids continue after the largest ever used, also after the largest row was deleted."""
    conn = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    for signal_id in (1, 7):
        conn.execute(
            "INSERT INTO arbitrage_signals (id, symbol, buy_exchange, sell_exchange, buy_price,"
            " sell_price, profit, profit_percent, buy_size, sell_size, confidence, timestamp)"
            " VALUES (?, 'BTC/USDT', 'a', 'b', 1, 2, 1, 1, 1, 1, 1, 0)",
            (signal_id,),
        )
    conn.execute("DELETE FROM arbitrage_signals WHERE id = 7")
    conn.close()
    writer = open_writer(data_dir, metrics)
    assert writer.resume_state().first_ids == {"arbitrage_signals": 8, "trades": 1}
    await writer.close()


async def test_a_locked_database_is_retried_until_it_commits(
    data_dir: Path, metrics: Metrics
) -> None:
    """Another connection holding the write lock delays the batch; nothing is lost, and
    the logs say it failed, why, and when it recovered."""
    writer = open_writer(data_dir, metrics)
    blocker = sqlite3.connect(data_dir / "arbot.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    writer.add(tick(i) for i in range(100))
    with capture_logs() as logs:
        commit = asyncio.ensure_future(writer.flush())
        await wait_until(lambda: errors(metrics, "locked") >= 3)
        assert not commit.done()
        assert metrics.registry.get_sample_value("arbot_writer_retrying") == 1
        blocker.execute("ROLLBACK")
        blocker.close()
        await commit
    events = [(e["event"], e.get("kind")) for e in logs]
    assert events[0] == ("batch_write_failed", "locked")
    assert events[-1] == ("batch_write_recovered", None)
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(100,)]
    assert metrics.registry.get_sample_value("arbot_writer_retrying") == 0
    await writer.close()


async def test_a_failing_record_retries_the_whole_batch(
    data_dir: Path, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error mid-batch rolls everything back (new names too) and the retry commits
    each row exactly once."""
    writer = open_writer(data_dir, metrics)
    attempts = []

    def flaky(conn: sqlite3.Connection, gap: FeedGap) -> None:
        insert_gap(conn, gap)
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(records_sql._WRITERS, FeedGap, flaky)
    writer.add([tick(0, "newex", "NEW/USDT"), tick(1)], [FeedGap("okx", 1.0, 2.0, "flaky")])
    await writer.flush()
    assert len(attempts) == 3
    assert errors(metrics, "io") == 2
    assert read(data_dir, "SELECT count(*) FROM feed_gaps") == [(1,)]
    assert read(data_dir, "SELECT symbol, exchange FROM tickers ORDER BY timestamp") == [
        ("NEW/USDT", "newex"),
        ("BTC/USDT", "binance"),
    ]
    await writer.close()


async def test_a_read_only_database_is_retried_then_resumes(
    data_dir: Path, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite refusing writes (a real SQLITE_READONLY, raised through a read-only
    connection) stalls the batch; once writes work again it commits."""
    writer = open_writer(data_dir, metrics)
    read_only = sqlite3.connect(
        f"file:{data_dir / 'arbot.db'}?mode=ro", uri=True, check_same_thread=False
    )
    gap = FeedGap("okx", 1.0, 2.0, "after read-only")

    def write_gap(conn: sqlite3.Connection, gap: FeedGap) -> None:
        insert_gap(read_only if refuse else conn, gap)

    monkeypatch.setitem(records_sql._WRITERS, FeedGap, write_gap)
    refuse = True
    writer.add([tick(0)], [gap])
    commit = asyncio.ensure_future(writer.flush())
    await wait_until(lambda: errors(metrics, "other") >= 2)
    assert not commit.done()
    refuse = False
    await commit
    read_only.close()
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(1,)]
    assert read(data_dir, "SELECT reason FROM feed_gaps") == [("after read-only",)]
    await writer.close()


async def test_a_record_with_a_bug_is_dropped_and_the_batch_kept(
    data_dir: Path, metrics: Metrics
) -> None:
    """A record that can never be written (a settlement of a trade that does not exist, a
    gap without an exchange) is dropped and logged; ticks and other records commit."""
    writer = open_writer(data_dir, metrics)
    missing_trade = TradeSettled(99, ExecutionData(status="failed"))
    no_exchange = FeedGap(None, 1.0, 2.0, "no exchange")  # type: ignore[arg-type]
    writer.add([tick(0)], [FeedGap("okx", 1.0, 2.0, "kept"), missing_trade, no_exchange])
    with capture_logs() as logs:
        await writer.flush()
    assert read(data_dir, "SELECT reason FROM feed_gaps") == [("kept",)]
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(1,)]
    assert errors(metrics, "other") == 2
    dropped = [e["record"] for e in logs if e["event"] == "write_record_dropped"]
    assert dropped == ["TradeSettled", "FeedGap"]
    await writer.close()


async def test_close_commits_what_is_pending(data_dir: Path, metrics: Metrics) -> None:
    """close() flushes the last partial batch and can be called twice."""
    writer = open_writer(data_dir, metrics)
    writer.add(tick(i) for i in range(5))
    await writer.close()
    await writer.close()
    assert read(data_dir, "SELECT count(*) FROM ticks") == [(5,)]


def test_error_kinds_of_real_sqlite_errors(tmp_path: Path) -> None:
    """Real SQLite failures map to the write_errors labels operators alert on."""
    path = tmp_path / "x.db"
    a = sqlite3.connect(path, isolation_level=None, timeout=0)
    b = sqlite3.connect(path, isolation_level=None, timeout=0)
    a.execute("CREATE TABLE t (x BLOB)")
    a.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        b.execute("BEGIN IMMEDIATE")
    a.execute("ROLLBACK")
    pages = a.execute("PRAGMA page_count").fetchone()[0]
    a.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError) as full:
        a.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert error_kind(locked.value) == "locked"
    assert error_kind(full.value) == "disk_full"
    assert error_kind(sqlite3.OperationalError("disk I/O error")) == "io"
    assert error_kind(sqlite3.OperationalError("attempt to write a readonly database")) == "other"
    a.close()
    b.close()
