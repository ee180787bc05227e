"""`arbot demo`: the real daemon against built-in local exchanges; no internet needed.

Venues (arbot.localmarket.demo): binance, okx and kraken quoting SOL/USDT and XRP/USDT from
one price path with small offsets, okx jumping +0.6 % for 3 s every 20 s, so the detector
records opportunities within the first minute, followed as 10-level order books (each
venue's own wire format), so signals carry the executable edge beside the top of book's;
and the recorded Binance spot and USD-M captures replayed as two more venues (BTC/USDT,
ETH/USDT: top of book, a real basis of a few bp).
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Collection, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TextIO

from arbot.app import run_daemon
from arbot.errors import ConfigError, DatabaseError
from arbot.localmarket import LocalExchange
from arbot.localmarket.demo import demo_exchanges, replay_exchanges
from arbot.metrics import Metrics
from arbot.overrides import apply_overrides, stored
from arbot.settings import (
    BackupSettings,
    DetectorSettings,
    MetricsSettings,
    PaperSettings,
    RetentionSettings,
    Settings,
    StorageSettings,
)
from arbot.storage.connection import db_path
from arbot.storage.lockfile import lock_holder
from arbot.storage.sqlite.stats import database_stats

REPORT_EVERY = 10.0  # seconds between progress lines
SYNTHETIC = ("SOL/USDT", "XRP/USDT")
DEPTH = 10  # order-book levels followed on the synthetic venues
SIZES = (1_000.0, 10_000.0)  # notionals (USDT) at which signals report the net edge
REPLAY_NAMES = ("binance_spot", "binance_usdm")
# Paper money per venue: enough of each asset for a few trades of max_trade_amount each way.
DEMO_FUNDS = {"USDT": 50_000.0, "SOL": 300.0, "XRP": 20_000.0, "BTC": 0.5, "ETH": 10.0}


def demo_settings(
    data_dir: Path,
    venues: Mapping[str, LocalExchange],
    metrics_listen: str,
    books: Collection[str] = (),
) -> Settings:
    """The daemon's settings for the demo: one exchange per running venue, order books
    followed on those named in `books`."""
    return Settings(
        storage=StorageSettings(data_dir=data_dir),
        exchanges=tuple(
            fake.exchange_settings(name, depth=DEPTH if name in books else 0)
            for name, fake in venues.items()
        ),
        detector=DetectorSettings(sizes=SIZES),
        metrics=MetricsSettings(listen=metrics_listen),
        retention=RetentionSettings(enabled=False),
        backup=BackupSettings(enabled=False),
        paper=PaperSettings(
            enabled=True,
            snapshot_interval=30.0,
            balances={name: _funds(fake) for name, fake in venues.items()},
        ),
    )


def _funds(fake: LocalExchange) -> dict[str, float]:
    assets = {"USDT", *(symbol.split("/")[0] for symbol in fake.symbols)}
    return {asset: DEMO_FUNDS[asset] for asset in sorted(assets)}


async def run_demo(
    data_dir: Path,
    stop: Awaitable[object],
    duration: float | None = None,
    metrics_listen: str = "127.0.0.1:9108",
    out: TextIO | None = None,
) -> int:
    """Start the local exchanges, run the daemon into `data_dir` until `stop` or
    `duration` seconds, print progress to `out` (default: stdout at the time of the call);
    returns the daemon's exit code."""
    out = out or sys.stdout
    metrics = Metrics()
    synthetic = {fake.kind: fake for fake in demo_exchanges(symbols=SYNTHETIC)}
    venues = synthetic | dict(zip(REPLAY_NAMES, replay_exchanges(), strict=True))
    async with AsyncExitStack() as stack:
        for fake in venues.values():
            await stack.enter_async_context(fake)
        settings = _with_overrides(demo_settings(data_dir, venues, metrics_listen, synthetic))
        _print_banner(settings, out)
        async with asyncio.TaskGroup() as tg:
            reporter = tg.create_task(_report(metrics, out))
            code = await run_daemon(settings, _until(stop, duration), metrics)
            reporter.cancel()
        if inspect.iscoroutine(stop):
            stop.close()  # not awaited when the daemon failed to start: no RuntimeWarning
    if code != 0:
        # Whatever arbot.db holds now is not this run's work (the daemon may not have
        # started, e.g. another process holds the lock): report only the failure.
        print(f"demo failed (exit {code}): see the error above", file=out)
        return code
    rows = (await asyncio.to_thread(database_stats, data_dir, "arbot", time.time()))["rows"]
    print(
        f"demo stopped (exit {code}): arbot.db holds {rows['ticks']} ticks, "
        f"{rows['arbitrage_signals']} signals, {rows['trades']} paper trades, "
        f"{rows['balances']} balance snapshots",
        file=out,
    )
    arbot = _program()
    print(
        f"look at them: {arbot} query signals --data-dir {data_dir}\n"
        f"              {arbot} query spreads --data-dir {data_dir}",
        file=out,
    )
    return code


def check_free(data_dir: Path, listen: str) -> None:
    """The data dir and the metrics address are free, or one error in the demo's own terms
    (its flags): the daemon's messages name systemd and config keys the demo has not got.
    Before anything starts."""
    holder = lock_holder(data_dir)
    if holder is not None:
        raise DatabaseError(
            f"--data-dir {data_dir}: in use by a running arbot (pid {holder}); stop it, or "
            "give the demo another --data-dir"
        )
    host, port = listen.rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise ConfigError(
                f"--metrics-listen {listen}: cannot listen ({exc.strerror}); give another "
                f"port, e.g. --metrics-listen {host}:{_other_port(int(port))}"
            ) from None


def _other_port(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


def _with_overrides(settings: Settings) -> Settings:
    """The demo's settings with the data dir's `arbot config set` overrides on top, as the
    daemon applies them to its file."""
    rows = stored(settings.storage.data_dir)
    if not rows:
        return settings
    doc = settings.model_dump(mode="json")
    return apply_overrides(doc, [(r.path, r.value) for r in rows], "the demo's settings")


def _program() -> str:
    """How to call arbot again: `arbot` when it is on PATH, else the path this run used
    (`make demo` runs .venv/bin/arbot, which is not on PATH)."""
    if shutil.which("arbot") or not sys.argv[0].endswith("arbot"):
        return "arbot"
    return sys.argv[0]


async def _until(stop: Awaitable[object], duration: float | None) -> None:
    try:
        async with asyncio.timeout(duration):
            await stop
    except TimeoutError:
        pass


def _stored(metrics: Metrics) -> str:
    get = metrics.registry.get_sample_value
    ticks = int(get("arbot_ticks_committed_total") or 0)
    books = int(get("arbot_books_committed_total") or 0)
    signals = int(get("arbot_signals_recorded_total") or 0)
    return f"committed so far: {ticks} ticks, {books} order books, {signals} signals"


def _edges(metrics: Metrics) -> str | None:
    """The best pair's last signal: its edge at the top of book and through the books."""
    edges: dict[tuple[str, str, str], dict[str, float]] = {}
    for family in metrics.registry.collect():
        if family.name == "arbot_signal_edge_percent":
            for sample in family.samples:
                pair = (sample.labels["symbol"], sample.labels["buy"], sample.labels["sell"])
                edges.setdefault(pair, {})[sample.labels["edge"]] = sample.value
    sized = [(e["executable"], e["top"], pair) for pair, e in edges.items() if len(e) == 2]
    if not sized:
        return None
    executable, top, (symbol, buy, sell) = max(sized)
    return (
        f"  best last signal: {symbol} buy {buy} sell {sell}: top of book {top:.3f} %, "
        f"executable through the books {executable:.3f} %"
    )


async def _report(metrics: Metrics, out: TextIO) -> None:
    while True:
        await asyncio.sleep(REPORT_EVERY)
        print(_stored(metrics), file=out, flush=True)
        edges = _edges(metrics)
        if edges is not None:
            print(edges, file=out, flush=True)


def _print_banner(settings: Settings, out: TextIO) -> None:
    data_dir = settings.storage.data_dir
    venues = "; ".join(f"{e.name} ({', '.join(e.symbols)})" for e in settings.exchanges)
    print(
        f"""ArBot demo: the real daemon against local exchanges on 127.0.0.1
  exchanges: {venues}
  database:  {db_path(data_dir, "arbot")}  (ticks, books, arbitrage_signals, trades)
  metrics:   http://{settings.metrics.listen}/metrics  and  /healthz
  logs:      stderr (JSON lines when redirected, e.g. 2> demo.log)
Stop with Ctrl-C; the daemon drains and commits every tick it took.""",
        file=out,
        flush=True,
    )
