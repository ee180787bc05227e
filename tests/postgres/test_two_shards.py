"""Two shard daemons' data paths (engine -> PgWriter, each over its own symbols, writing at
the same time) fill one PostgreSQL database: every symbol's ticks are stored once, by the
shard that owns the symbol, and the signals are exactly those one engine finds over all
symbols, over a replayed market where the comparison is exact. (The daemon processes
against live fakes: test_shard_processes.py.)"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.recorded import run
from arbot.records import Resume, SignalFound
from arbot.settings import PostgresSettings, Settings, ShardSettings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.records_sql import ID_RANGE_BITS
from arbot.storage.pg.shard import for_shard, owns, shard_of
from arbot.storage.pg.writer import PgWriter
from arbot.venues import params_from_settings

EXCHANGES = ("binance", "kraken", "okx")
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT", "DOT/USDT")
T0 = 1_760_000_000.0


def settings(shard: ShardSettings) -> Settings:
    return Settings.model_validate(
        {
            "exchanges": [
                {"id": e, "symbols": list(SYMBOLS), "taker_fee": 0.0005} for e in EXCHANGES
            ],
            "detector": {"min_profit_percent": 0.05, "hysteresis_percent": 0.02, "cooldown": 3.0},
            "shard": shard.model_dump(),
        }
    )


def market(seconds: int = 300, seed: int = 3) -> list[Tick]:
    """Every exchange quotes every symbol each second; now and then one exchange's bid sits
    0.5 % above the others' asks for a few seconds."""
    rng = random.Random(seed)
    mids = {s: 100.0 * (i + 1) for i, s in enumerate(SYMBOLS)}
    out = []
    for i in range(seconds):
        t = T0 + i
        for s in SYMBOLS:
            mids[s] *= 1 + rng.uniform(-1e-4, 1e-4)
            rich = EXCHANGES[(i // 40 + len(s)) % 3] if (i + len(s)) % 40 < 5 else None
            for e in EXCHANGES:
                mid = mids[s] * (1.005 if e == rich else 1.0)
                out.append(Tick(e, s, mid * 0.9999, mid * 1.0001, 1.0, 1.0, t, t))
    return out


def signal_keys(records: list[object]) -> set[tuple[object, ...]]:
    return {
        (r.signal.symbol, r.signal.buy_exchange, r.signal.sell_exchange, r.signal.timestamp)
        for r in records
        if isinstance(r, SignalFound)
    }


async def shard_daemon(pg: PostgresSettings, shard: ShardSettings, ticks: list[Tick]) -> None:
    s = for_shard(settings(shard))
    writer = PgWriter(pg, Metrics(), shard=shard, retry_max_seconds=0.05)
    resume = await asyncio.to_thread(writer.resume_state)
    engine = Engine(s, params_from_settings(s.enabled_exchanges), resume, paper=False)
    for out in run(engine, [t for t in ticks if owns(shard, t.symbol)]):
        writer.add(out.ticks, out.records)
        await writer.flush()
    await writer.close()


async def test_two_shards_write_one_database_as_one_daemon_would(
    pg_settings: PostgresSettings,
) -> None:
    ticks = market()
    one = settings(ShardSettings())
    engine = Engine(one, params_from_settings(one.exchanges), Resume({}), paper=False)
    expected = signal_keys([r for out in run(engine, ticks) for r in out.records])
    assert len(expected) >= 10  # the market has opportunities to find

    shards = [ShardSettings(index=i, count=2) for i in (0, 1)]
    assert {shard_of(s, 2) for s in SYMBOLS} == {0, 1}  # both shards have work
    await asyncio.gather(*(shard_daemon(pg_settings, sh, ticks) for sh in shards))

    with connect(pg_settings) as conn:
        per_symbol = dict(
            conn.execute("SELECT symbol, count(*) FROM tickers GROUP BY symbol").fetchall()
        )
        signals = conn.execute(
            "SELECT id, symbol, buy_exchange, sell_exchange, timestamp FROM arbitrage_signals"
        ).fetchall()
    assert per_symbol == Counter(t.symbol for t in ticks)
    assert {tuple(r[1:]) for r in signals} == expected
    assert len(signals) == len(expected)
    for sid, symbol, *_ in signals:  # written by the shard owning the symbol
        assert (sid >> ID_RANGE_BITS) - 1 == shard_of(symbol, 2)
