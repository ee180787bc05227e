"""The daemon's paper trades are the backtest's: a real daemon process against fake venues
as in `arbot demo` (quotes of all venues in phase, every 200 ms; one venue jumping above the
others now and then, so two trades sell into its quotes at once), then `arbot backtest
--from-db` over the ticks it stored. Paper latency 0: a quote arriving a fraction of a
millisecond after a signal fills it, so the fills show any difference in the clocks."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from arbot.localmarket import LocalExchange
from arbot.localmarket.quotes import RandomWalk
from tests.integration.process import ARBOT, DaemonProcess, eventually_scraped
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import metric

pytestmark = pytest.mark.integration

SYMBOL = "SOL/USDT"
RATE = 5.0  # quotes per second: each venue quotes every 200 ms
EVERY, LENGTH = 5.0, 1.0  # binance2 quotes 0.6 % higher for LENGTH s every EVERY s
WINDOWS = 4
FUNDS = {"USDT": 50_000.0, "SOL": 300.0}
# name -> (kind, price offset, seconds between dislocations). Venues that send no timestamp
# (Binance bookTicker, Kraken): each quote is stored under its receive time, so the stored
# ticks keep the order the daemon saw them in (see README, "Daemon and backtest").
VENUES = {
    "binance": ("binance", 0.0, 0.0),
    "kraken": ("kraken", -0.0005, 0.0),
    "binance2": ("binance", 0.0005, EVERY),
}

TRADE_COLUMNS = (
    "symbol, buy_exchange, sell_exchange, signal_time, quantity, planned_profit, "
    "actual_profit, fees_paid, status, error_message"
)


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, LocalExchange]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(
                LocalExchange(
                    kind,
                    source=RandomWalk(
                        symbols=(SYMBOL,),
                        rate=RATE,
                        offset=offset,
                        dislocation_every=every,
                        dislocation_size=0.006,
                        dislocation_length=LENGTH,
                    ),
                )
            )
            for name, (kind, offset, every) in VENUES.items()
        }


def config(tmp_path: Path, fakes: dict[str, LocalExchange], port: int) -> Path:
    exchanges = [
        exchange(name, fake.kind, fake.url, symbols=(SYMBOL,), mode="ws")
        for name, fake in fakes.items()
    ]
    paper = {"enabled": True, "latency_ms": 0, "balances": {name: FUNDS for name in fakes}}
    doc = daemon_doc(tmp_path / "data", exchanges, port, paper=paper)
    return write_config(tmp_path / "arbot.toml", doc)


def quiet_after(windows: int) -> float:
    """A wall-clock time when `windows` dislocations have begun and ended and the trades
    they raised have settled (well before the next one)."""
    first = math.ceil(time.time() / EVERY) * EVERY
    return first + (windows - 1) * EVERY + LENGTH + 1.5


def daemon_trades(data_dir: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        return conn.execute(
            "SELECT t.symbol, t.buy_exchange, t.sell_exchange, s.timestamp, t.quantity,"
            " t.planned_profit, t.actual_profit, t.fees_paid, t.status, t.error_message"
            " FROM trades AS t JOIN arbitrage_signals AS s ON s.id = t.signal_id ORDER BY t.id"
        ).fetchall()
    finally:
        conn.close()


async def backtest_trades(cfg: Path, data_dir: Path) -> list[tuple[Any, ...]]:
    """`arbot backtest --from-db` over every stored tick; its trades from backtest.db."""
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        first, last = conn.execute("SELECT min(ts), max(ts) FROM ticks").fetchone()
    finally:
        conn.close()
    proc = await asyncio.create_subprocess_exec(
        ARBOT,
        "backtest",
        "--config",
        str(cfg),
        "--from-db",
        str(data_dir),
        "--from",
        repr(math.floor(first)),
        "--to",
        repr(math.floor(last) + 1),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    conn = sqlite3.connect(data_dir / "backtest.db")
    try:
        return conn.execute(f"SELECT {TRADE_COLUMNS} FROM backtest_trades ORDER BY id").fetchall()
    finally:
        conn.close()


async def test_daemon_and_backtest_of_its_ticks_make_the_same_trades(
    tmp_path: Path, fakes: dict[str, LocalExchange]
) -> None:
    port = free_port()
    cfg = config(tmp_path, fakes, port)
    data_dir = tmp_path / "data"
    daemon = await DaemonProcess.start(cfg, port, {})
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(daemon.read_logs())  # ends with the process
            await eventually_scraped(
                daemon,
                lambda s: all(
                    metric(s, "arbot_ticks_received_total", exchange=name) > 0 for name in fakes
                ),
            )
            await asyncio.sleep(quiet_after(WINDOWS) - time.time())
            daemon.terminate()
            assert await daemon.wait() == 0, daemon.tail()
    finally:
        await daemon.reap()

    live = daemon_trades(data_dir)
    replayed = await backtest_trades(cfg, data_dir)
    assert len(live) >= WINDOWS  # each dislocation raises at least one trade
    assert replayed == live
