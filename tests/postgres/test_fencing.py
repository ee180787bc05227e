"""Fencing of shard writers: the advisory lock dies with its session, so a writer whose
session was lost (a server restart; here its backend terminated) must prove at the next
batch that the shard is still its own. A second writer for the shard, started meanwhile,
took a new generation of the shard's lease: the first stands down (Fenced), writes nothing
more, also once the second has stopped, and counts what it could not write. A writer that
reconnects before anyone took over writes on. A take-over waits for a batch in flight."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from arbot.metrics import Metrics
from arbot.models import Signal, Tick
from arbot.records import SignalFound
from arbot.settings import PostgresSettings, ShardSettings
from arbot.storage.batches import Fenced
from arbot.storage.pg.connect import connect
from arbot.storage.pg.shard import ShardTaken, check_lease, take_lease
from arbot.storage.pg.writer import PgWriter
from tests.helpers import sample

SHARD = ShardSettings(index=0, count=2)


def ticks(first: int, n: int, exchange: str = "okx") -> list[Tick]:
    return [
        Tick(exchange, "ETH/USDT", 1.0, 2.0, 1.0, 1.0, 1_700_000_000.0 + i, 1_700_000_000.0 + i)
        for i in range(first, first + n)
    ]


def signal(sid: int) -> SignalFound:
    s = Signal("ETH/USDT", "okx", "kraken", 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.9, "stable", 1.0, "k")
    return SignalFound(sid, s)


def terminate(pg: PostgresSettings, writer: PgWriter) -> None:
    """End the writer's session on the server, as a server restart would."""
    with connect(pg) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'arbot shard 0/2'"
        )
    assert writer


def stored(pg: PostgresSettings, exchange: str) -> int:
    with connect(pg) as conn:
        row = conn.execute(
            "SELECT count(*) FROM tickers WHERE exchange = %s", (exchange,)
        ).fetchone()
    return int(row[0]) if row else 0


async def test_a_writer_taken_over_stands_down_and_writes_nothing_more(
    pg_settings: PostgresSettings,
) -> None:
    metrics = Metrics()
    first = PgWriter(pg_settings, metrics, shard=SHARD, retry_max_seconds=0.1)
    resume = await asyncio.to_thread(first.resume_state)
    first.add(ticks(0, 10, "first"))
    await first.flush()
    await asyncio.to_thread(terminate, pg_settings, first)

    second = PgWriter(pg_settings, Metrics(), shard=SHARD, retry_max_seconds=0.1)
    await asyncio.to_thread(second.resume_state)  # takes the lock and generation 2
    first.add(ticks(10, 10, "first"), [signal(resume.first_ids["arbitrage_signals"])])
    await first.flush()  # returns: the batch is dropped, counted, not written
    fenced = await asyncio.wait_for(first.stood_down(), 1)
    assert "shard 0/2 was taken over by another writer (generation 2" in str(fenced)
    assert fenced.exit_code == 4

    second.add(ticks(0, 10, "second"))
    await second.close()  # releases the lock: the first still may not write
    first.add(ticks(20, 10, "first"))
    await first.close()
    assert first.committed == 10 and first.ticks_dropped == 20
    assert first.records_dropped == {"SignalFound": 1}
    assert sample(metrics, "arbot_ticks_dropped_total", reason="fenced") == 20
    assert sample(metrics, "arbot_records_dropped_total", kind="SignalFound") == 1
    assert (stored(pg_settings, "first"), stored(pg_settings, "second")) == (10, 10)
    with connect(pg_settings) as conn:
        assert conn.execute("SELECT count(*) FROM arbitrage_signals").fetchone() == (0,)


async def test_a_writer_back_before_anyone_took_over_writes_on(
    pg_settings: PostgresSettings,
) -> None:
    first = PgWriter(pg_settings, Metrics(), shard=SHARD, retry_max_seconds=0.1)
    await asyncio.to_thread(first.resume_state)
    await asyncio.to_thread(terminate, pg_settings, first)
    first.add(ticks(0, 10))
    await first.flush()  # reconnects, re-takes the lock, same generation
    second = PgWriter(pg_settings, Metrics(), shard=SHARD)
    with pytest.raises(ShardTaken):
        await asyncio.to_thread(second.resume_state)
    first.add(ticks(10, 10))
    await first.close()
    assert first.committed == 20 and first.fenced is None


def test_a_take_over_waits_for_the_batch_in_flight(pg_settings: PostgresSettings) -> None:
    """The batch's lease row lock orders the new generation after its commit: whatever it
    checked, it commits before anyone else writes the shard."""
    with connect(pg_settings) as setup:
        generation = take_lease(setup, SHARD)
    with connect(pg_settings) as batch, connect(pg_settings) as newcomer:
        taken: list[tuple[int, float]] = []
        with batch.transaction():
            check_lease(batch, SHARD, generation, lock=True)
            thread = threading.Thread(
                target=lambda: taken.append((take_lease(newcomer, SHARD), time.monotonic()))
            )
            thread.start()
            time.sleep(0.5)
            assert not taken  # blocked by the batch's row lock
            committed_at = time.monotonic()
        thread.join(10)
        assert taken and taken[0][0] == generation + 1 and taken[0][1] >= committed_at
        with pytest.raises(Fenced):
            check_lease(batch, SHARD, generation, lock=True)


def test_the_lease_survives_no_session(pg_settings: PostgresSettings) -> None:
    """Unlike the advisory lock, the generation is a row: a new session sees it."""
    with connect(pg_settings) as conn:
        first = take_lease(conn, SHARD)
    with psycopg.connect(pg_settings.conninfo, autocommit=True) as conn:
        assert take_lease(conn, SHARD) == first + 1
