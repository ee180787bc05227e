"""`arbot demo`: the real daemon against built-in local exchanges; no internet needed.

Venues: Binance spot and Binance USD-M futures replay the recorded captures (BTC/USDT and
ETH/USDT: a real basis of a few basis points between two live books), and two synthetic
venues in OKX's and Kraken's wire formats quote SOL/USDT and XRP/USDT from one seeded
random walk; the Kraken one is dislocated by 0.4 % for 3 s every 6 s, so the detector
records opportunities within the first minute.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from arbot.app import run_daemon
from arbot.localmarket import LocalExchange
from arbot.localmarket.quotes import PriceSource, RandomWalk, Replay
from arbot.metrics import Metrics
from arbot.settings import Settings, parse_settings
from arbot.storage.connection import db_path

REPORT_EVERY = 10.0  # seconds between progress lines
RECORDED = ("BTC/USDT", "ETH/USDT")
SYNTHETIC = ("SOL/USDT", "XRP/USDT")


@dataclass(frozen=True, slots=True)
class DemoVenue:
    name: str  # exchange name in the database
    kind: str  # wire format (ccxt id)
    symbols: tuple[str, ...]
    source: Callable[[], PriceSource]
    fee: float


def _dislocated_walk() -> PriceSource:
    return RandomWalk(
        SYNTHETIC,
        rate=5.0,
        seed=7,
        dislocation_every=6.0,
        dislocation_size=0.004,
        dislocation_length=3.0,
    )


VENUES = (
    DemoVenue("binance", "binance", RECORDED, lambda: Replay.venue("spot"), 0.0002),
    DemoVenue("binance_usdm", "binance", RECORDED, lambda: Replay.venue("usdm"), 0.0002),
    DemoVenue("okx", "okx", SYNTHETIC, lambda: RandomWalk(SYNTHETIC, rate=5.0, seed=7), 0.001),
    DemoVenue("kraken", "kraken", SYNTHETIC, _dislocated_walk, 0.001),
)


def demo_settings(data_dir: Path, urls: Mapping[str, str], metrics_listen: str) -> Settings:
    """The daemon's settings for the demo: every venue points at its local server."""
    exchanges = [
        {
            "id": venue.kind,
            "name": venue.name,
            "symbols": list(venue.symbols),
            "url_override": urls[venue.name],
            "taker_fee": venue.fee,
            "maker_fee": venue.fee,
            # No rate limit against a local server; load spot markets only.
            "ccxt_options": {
                "enableRateLimit": False,
                "options": {"fetchMarkets": {"types": ["spot"]}},
            },
        }
        for venue in VENUES
    ]
    data = {
        "storage": {"data_dir": str(data_dir)},
        "exchanges": exchanges,
        "metrics": {"listen": metrics_listen},
        "retention": {"enabled": False},
        "backup": {"enabled": False},
        "paper": {"enabled": True},
    }
    return parse_settings(data, "arbot demo")


async def run_demo(
    data_dir: Path,
    stop: Awaitable[object],
    duration: float | None = None,
    metrics_listen: str = "127.0.0.1:9108",
    out: TextIO = sys.stdout,
) -> int:
    """Start the local exchanges, run the daemon into `data_dir` until `stop` or
    `duration` seconds, print progress; returns the daemon's exit code."""
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for venue in VENUES:
            server = LocalExchange(kind=venue.kind, source=venue.source())
            urls[venue.name] = (await stack.enter_async_context(server)).url
        settings = demo_settings(data_dir, urls, metrics_listen)
        _print_banner(settings, out)
        async with asyncio.TaskGroup() as tg:
            reporter = tg.create_task(_report(metrics, out))
            code = await run_daemon(settings, _until(stop, duration), metrics)
            reporter.cancel()
    ticks, signals = _stored(metrics)
    print(f"demo stopped (exit {code}): {ticks} ticks and {signals} signals stored", file=out)
    print(
        f"look at them: arbot query signals --data-dir {data_dir}\n"
        f"              arbot query spreads --data-dir {data_dir}",
        file=out,
    )
    return code


async def _until(stop: Awaitable[object], duration: float | None) -> None:
    try:
        async with asyncio.timeout(duration):
            await stop
    except TimeoutError:
        pass


def _stored(metrics: Metrics) -> tuple[int, int]:
    get = metrics.registry.get_sample_value
    return (
        int(get("arbot_ticks_committed_total") or 0),
        int(get("arbot_signals_recorded_total") or 0),
    )


async def _report(metrics: Metrics, out: TextIO) -> None:
    while True:
        await asyncio.sleep(REPORT_EVERY)
        ticks, signals = _stored(metrics)
        print(f"stored so far: {ticks} ticks, {signals} signals", file=out, flush=True)


def _print_banner(settings: Settings, out: TextIO) -> None:
    data_dir = settings.storage.data_dir
    venues = "; ".join(f"{v.name} ({', '.join(v.symbols)})" for v in VENUES)
    print(
        f"""ArBot demo: the real daemon against local exchanges on 127.0.0.1
  exchanges: {venues}
  database:  {db_path(data_dir, "arbot")}  (ticks, arbitrage_signals, trades)
  metrics:   http://{settings.metrics.listen}/metrics  and  /healthz
  logs:      stderr (JSON lines when redirected, e.g. 2> demo.log)
Stop with Ctrl-C; the daemon drains and commits every tick it took.""",
        file=out,
        flush=True,
    )
