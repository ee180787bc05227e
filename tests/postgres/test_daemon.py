"""The daemon with storage.backend = "postgresql" against local fake exchanges: ticks,
accepted == committed, and two shard daemons filling one database, every symbol's ticks
from exactly one of them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
from structlog.testing import capture_logs

from arbot.app import run_daemon
from arbot.localmarket import LocalExchange
from arbot.metrics import Metrics
from arbot.settings import PostgresSettings, Settings, parse_settings
from arbot.storage.pg.shard import owns
from tests.helpers import sample, wait_until

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")


def config(data_dir: Path, pg: PostgresSettings, urls: dict[str, str], **shard: int) -> Settings:
    doc: dict[str, Any] = {
        "storage": {"data_dir": str(data_dir), "linger_ms": 20, "backend": "postgresql"},
        "postgresql": pg.model_dump(mode="json", exclude_defaults=True),
        "exchanges": [
            {
                "id": "binance",
                "name": name,
                "symbols": list(SYMBOLS),
                "url_override": url,
                "watch_timeout": 2.0,
                "ccxt_config": {"enableRateLimit": False},
            }
            for name, url in urls.items()
        ],
        "metrics": {"enabled": False},
        "retention": {"enabled": False},
        "backup": {"enabled": False},
        "service": {"grace_timeout": 10.0},
    }
    if shard:
        doc["shard"] = shard
    return parse_settings(doc, "test")


async def run_for(settings: Settings, metrics: Metrics, ticks: int) -> dict[str, Any]:
    stop = asyncio.Event()
    with capture_logs() as logged:
        daemon = asyncio.create_task(run_daemon(settings, stop.wait(), metrics))
        await wait_until(lambda: sample(metrics, "arbot_ticks_committed_total") >= ticks)
        stop.set()
        assert await daemon == 0
    return dict(next(e for e in logged if e["event"] == "daemon_stopped"))


async def test_the_daemon_stores_into_postgresql(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    async with (
        LocalExchange("binance", symbols=SYMBOLS, rate=20) as a,
        LocalExchange("binance", symbols=SYMBOLS, rate=20, seed=1) as b,
    ):
        settings = config(tmp_path / "data", pg_settings, {"a": a.url, "b": b.url})
        final = await run_for(settings, Metrics(), 50)
    assert final["ticks_accepted"] == final["ticks_committed"] > 0
    with psycopg.connect(pg_settings.conninfo) as conn:
        stored = conn.execute("SELECT count(*) FROM ticks").fetchone()
    assert stored is not None and stored[0] == final["ticks_committed"]


async def test_two_shard_daemons_fill_one_database(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    async with (
        LocalExchange("binance", symbols=SYMBOLS, rate=20) as a,
        LocalExchange("binance", symbols=SYMBOLS, rate=20, seed=1) as b,
    ):
        urls = {"a": a.url, "b": b.url}
        shards = [
            config(tmp_path / f"data{i}", pg_settings, urls, index=i, count=2) for i in (0, 1)
        ]
        registries = [Metrics(), Metrics()]
        finals = await asyncio.gather(
            *(run_for(s, m, 50) for s, m in zip(shards, registries, strict=True))
        )
    for i, m in enumerate(registries):
        assert sample(m, "arbot_shard_info", index=str(i), count="2") == 1
    assert all(f["ticks_accepted"] == f["ticks_committed"] > 0 for f in finals)
    with psycopg.connect(pg_settings.conninfo) as conn:
        rows = conn.execute("SELECT symbol, count(*) FROM tickers GROUP BY symbol").fetchall()
    stored: dict[str, int] = {symbol: n for symbol, n in rows}
    assert sum(stored.values()) == sum(f["ticks_committed"] for f in finals)
    # Each shard subscribed to its own symbols only: together they cover all of them once.
    own = [{s for s in SYMBOLS if owns(settings.shard, s)} for settings in shards]
    assert own[0].isdisjoint(own[1]) and own[0] | own[1] == set(SYMBOLS)
    assert set(stored) <= set(SYMBOLS)
    # What each shard committed is exactly what is stored for its symbols.
    for mine, final in zip(own, finals, strict=True):
        assert sum(n for symbol, n in stored.items() if symbol in mine) == final["ticks_committed"]


async def test_a_restart_is_recorded_as_a_gap_from_the_last_stored_tick(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    """The last stored tick of each exchange is read from the server (the data dir holds
    no ticks with this backend), so the time between two runs is a feed_gaps row."""
    async with (
        LocalExchange("binance", symbols=SYMBOLS, rate=20) as a,
        LocalExchange("binance", symbols=SYMBOLS, rate=20, seed=1) as b,
    ):
        settings = config(tmp_path / "data", pg_settings, {"a": a.url, "b": b.url})
        await run_for(settings, Metrics(), 30)
        with psycopg.connect(pg_settings.conninfo) as conn:
            last: dict[str, float] = dict(
                conn.execute(
                    "SELECT e.name, max(t.ts + coalesce(t.recv_delta_ms, 0) / 1000.0)"
                    " FROM ticks t JOIN exchanges e ON e.id = t.exchange_id GROUP BY e.name"
                ).fetchall()
            )
        await asyncio.sleep(0.5)
        await run_for(settings, Metrics(), 60)
    with psycopg.connect(pg_settings.conninfo) as conn:
        gaps = conn.execute(
            'SELECT exchange, start, "end" FROM feed_gaps WHERE reason = %s', ("restart",)
        ).fetchall()
    assert sorted(g[0] for g in gaps) == ["a", "b"]
    for exchange, start, end in gaps:
        assert abs(start - last[exchange]) < 1e-3
        assert end - start >= 0.5
