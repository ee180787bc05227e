"""Symbol sharding: every symbol belongs to exactly one shard by a stable hash; a second
daemon for a shard already held is refused at start with a message naming it; shards
writing one database never collide on ids; each shard is its own paper account."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbot.metrics import Metrics
from arbot.models import BalanceRow, Signal, Tick
from arbot.records import BalanceSnapshot, SignalFound
from arbot.settings import PostgresSettings, ShardSettings, parse_settings
from arbot.storage.pg.schema import migrate, migrations
from arbot.storage.pg.shard import ShardTaken, for_shard, own_symbols, shard_of
from arbot.storage.pg.writer import PgWriter
from tests.postgres.cluster import Cluster


def test_the_hash_is_stable_across_processes_and_versions() -> None:
    """Pinned values (blake2b of the name): a change would move symbols between shards
    of running deployments."""
    symbols = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
    assert [shard_of(s, 4) for s in symbols] == [1, 2, 3, 3]
    assert [shard_of(s, 2) for s in symbols] == [1, 0, 1, 1]
    assert shard_of("BTC/USDT", 1000) == 249


@given(st.lists(st.text(min_size=1), unique=True, max_size=50), st.integers(1, 16))
def test_every_symbol_belongs_to_exactly_one_shard(symbols: list[str], count: int) -> None:
    owners = [set(own_symbols(ShardSettings(index=i, count=count), symbols)) for i in range(count)]
    assert sum(len(o) for o in owners) == len(symbols)
    assert set().union(*owners) == set(symbols)


def tick(symbol: str) -> Tick:
    return Tick("okx", symbol, 1.0, 2.0, None, None, 1_700_000_000.0, 1_700_000_000.0)


async def test_a_second_daemon_for_a_held_shard_is_refused(
    pg_settings: PostgresSettings, metrics: Metrics
) -> None:
    first = PgWriter(pg_settings, metrics, shard=ShardSettings(index=1, count=2))
    await asyncio.to_thread(first.resume_state)
    second = PgWriter(pg_settings, Metrics(), shard=ShardSettings(index=1, count=2))
    with pytest.raises(ShardTaken, match=r"shard 1/2 is already held .*'arbot shard 1/2'"):
        await asyncio.to_thread(second.resume_state)
    other = PgWriter(pg_settings, Metrics(), shard=ShardSettings(index=0, count=2))
    await asyncio.to_thread(other.resume_state)
    await first.close()
    await asyncio.to_thread(second.resume_state)  # released with its session
    await other.close()
    await second.close()


async def test_shards_allocate_disjoint_ids(pg_settings: PostgresSettings) -> None:
    signal = Signal("X/U", "a", "b", 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, "stable", 1.0, "k")
    ids = []
    for index in (0, 1):
        writer = PgWriter(pg_settings, Metrics(), shard=ShardSettings(index=index, count=2))
        resume = await asyncio.to_thread(writer.resume_state)
        sid = resume.first_ids["arbitrage_signals"]
        writer.add([tick("X/U")], [SignalFound(sid, signal), SignalFound(sid + 1, signal)])
        await writer.close()
        ids += [sid, sid + 1]
    assert len(set(ids)) == 4


def test_for_shard_splits_every_exchange_symbol_list() -> None:
    """Each shard's daemon feeds only its symbols; together they cover every configured
    (exchange, symbol) once; an exchange with none of a shard's symbols is disabled."""
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
    base = parse_settings(
        {
            "exchanges": [
                {"id": "okx", "symbols": symbols},
                {"id": "binance", "symbols": ["ETH/USDT"]},
            ],
            "shard": {"count": 2},
        },
        "arbot.toml",
    )
    seen: list[tuple[str, str]] = []
    for index in (0, 1):
        settings = for_shard(base.model_copy(update={"shard": ShardSettings(index=index, count=2)}))
        for ex in settings.enabled_exchanges:
            seen += [(ex.name, s) for s in ex.symbols]
    assert sorted(seen) == sorted([("okx", s) for s in symbols] + [("binance", "ETH/USDT")])
    shard1 = for_shard(base.model_copy(update={"shard": ShardSettings(index=1, count=2)}))
    assert [e.name for e in shard1.enabled_exchanges] == ["okx"]  # ETH/USDT is shard 0's


def snapshot(at: float, usdt: float, btc: float) -> BalanceSnapshot:
    return BalanceSnapshot(
        (BalanceRow("okx", "USDT", usdt, 0.0), BalanceRow("okx", "BTC", btc, 0.0)), at
    )


async def test_each_shard_resumes_its_own_paper_balances(pg_settings: PostgresSettings) -> None:
    """Two shards snapshot the same exchange and assets, at the same instants too: each
    resumes from its own latest snapshot, never from the other's more recent one."""
    shards = [ShardSettings(index=i, count=2) for i in (0, 1)]
    writers = [PgWriter(pg_settings, Metrics(), shard=sh) for sh in shards]
    for w in writers:
        await asyncio.to_thread(w.resume_state)
    writers[0].add([], [snapshot(10.0, 900.0, 1.0), snapshot(20.0, 800.0, 2.0)])
    writers[1].add([], [snapshot(10.0, 500.0, 5.0), snapshot(30.0, 400.0, 6.0)])
    await asyncio.gather(*(w.close() for w in writers))

    resumed = []
    for sh in shards:
        writer = PgWriter(pg_settings, Metrics(), shard=sh)
        resumed.append((await asyncio.to_thread(writer.resume_state)).balances)
        await writer.close()
    assert resumed == [
        {"okx": {"USDT": 800.0, "BTC": 2.0}},
        {"okx": {"USDT": 400.0, "BTC": 6.0}},
    ]
    with psycopg.connect(pg_settings.conninfo) as conn:
        rows = conn.execute("SELECT shard, count(*) FROM balances GROUP BY shard ORDER BY 1")
        assert rows.fetchall() == [(0, 4), (1, 4)]


async def test_balances_of_a_v1_database_become_shard_0s(pg_cluster: Cluster) -> None:
    """A database written before balances carried the shard: migrating keeps its rows as
    the single daemon's (shard 0), which resumes from them; shard 1 starts afresh."""
    name = f"v1_{uuid.uuid4().hex[:8]}"
    conninfo = pg_cluster.conninfo() + f" options='-c search_path={name}'"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        migrate(conn, migrations()[:1])
        conn.execute(
            "INSERT INTO balances (exchange, asset, free_balance, timestamp) "
            "VALUES ('okx', 'USDT', 700, 5)"
        )
    settings = PostgresSettings(conninfo=conninfo)
    balances = []
    for index in (0, 1):
        writer = PgWriter(settings, Metrics(), shard=ShardSettings(index=index, count=2))
        balances.append((await asyncio.to_thread(writer.resume_state)).balances)  # migrates
        await writer.close()
    assert balances == [{"okx": {"USDT": 700.0}}, {}]
