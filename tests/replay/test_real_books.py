"""A real 10-level book replay: 90 s of Binance spot and USD-M futures BTCUSDT books
(tests/data/tardis/, a Tardis book_snapshot_10 file rebuilt from the raw depth streams) as
two venues with fees 0. The signals' q*, profit and VWAPs equal a brute force over the raw
CSV rows at each signal's instant, the first signal comes at the first instant where both
books are known and q* > 0, and `arbot backtest` of the file equals the replay."""

from __future__ import annotations

import asyncio
import csv
import gzip
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from arbot.backtest import run_backtest
from arbot.models import Level
from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.settings import Settings, parse_settings
from arbot.storage.backtests import run_trades
from arbot.venues import params_for_data

FILE = Path(__file__).parents[1] / "data/tardis/binance_btcusdt_book_snapshot_10_90s.csv.gz"
VENUES = ("binance", "binance-futures")
Side = tuple[Level, ...]


def settings(data_dir: Path) -> Settings:
    """Fees 0, no trade limits, min_profit_percent 0: q* is the most profitable amount
    through both 10-level books. The spot book sits above the futures' all along (a real
    basis): one episode stays open, signalled at each step or half second."""
    exchanges = [
        {"id": v, "symbols": ["BTC/USDT"], "taker_fee": 0.0}
        | {"min_trade_amount": 0, "max_trade_amount": 1e12}
        for v in VENUES
    ]
    return parse_settings(
        {
            "storage": {"data_dir": str(data_dir)},
            "exchanges": exchanges,
            "detector": {"min_profit_percent": 0.0, "hysteresis_percent": 0.0}
            | {"cooldown": 0.5, "improve_step_percent": 0.001},
            "paper": {
                "enabled": True,
                "latency_ms": 0,
                "balances": {v: {"USDT": 1e7, "BTC": 100.0} for v in VENUES},
            },
        },
        "test",
    )


def raw_books() -> list[tuple[float, str, Side, Side]]:
    """(received s, venue, bids, asks) of each CSV row, in file (received) order, read
    with the csv module alone."""
    out = []
    with gzip.open(FILE, "rt", newline="") as f:
        for row in csv.DictReader(f):

            def side(name: str, r: dict[str, str] = row) -> Side:
                return tuple(
                    (float(r[f"{name}[{i}].price"]), float(r[f"{name}[{i}].amount"]))
                    for i in range(10)
                )

            received = int(row["local_timestamp"]) / 1e6
            out.append((received, row["exchange"], side("bids"), side("asks")))
    return out


def walk(levels: Side, q: float) -> float:
    """What q base units cost (asks) or fetch (bids) through `levels`."""
    left, value = q, 0.0
    for price, amount in levels:
        take = min(left, amount)
        value += price * take
        left -= take
    return value


def brute_force(asks: Side, bids: Side) -> tuple[float, float]:
    """q* and its profit at fees 0: profit is piecewise linear in q, so the best amount
    is where a level of either book ends; each is tried, the smallest best one kept."""
    most = min(sum(a for _, a in asks), sum(a for _, a in bids))
    ends = set()
    for levels in (asks, bids):
        total = 0.0
        for _, amount in levels:
            total += amount
            ends.add(min(total, most))
    best = (0.0, 0.0)
    for q in sorted(ends):
        profit = walk(bids, q) - walk(asks, q)
        if profit > best[1] * (1 + 1e-12):
            best = (q, profit)
    return best


SIGNALS = """SELECT s.buy_exchange, s.sell_exchange, s.profit, s.timestamp, t.quantity,
    t.buy_vwap, t.sell_vwap FROM arbitrage_signals AS s
    LEFT JOIN signal_book_trades AS t ON t.signal_id = s.id ORDER BY s.id"""


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The file replayed with paper trading into a data dir, and its summary."""
    data_dir = tmp_path_factory.mktemp("real")
    s = settings(data_dir)
    source = open_quote_file(FILE)
    params, _ = params_for_data(s.exchanges, source.exchanges)
    return data_dir, asyncio.run(replay(source, s, params))


def test_signals_equal_a_brute_force_over_the_raw_rows(replayed: tuple[Path, Any]) -> None:
    data_dir, _ = replayed
    with closing(sqlite3.connect(data_dir / "arbot.db")) as conn:
        signals = conn.execute(SIGNALS).fetchall()
    assert len(signals) > 10 and all(s[4] is not None for s in signals)
    raw = raw_books()
    books: dict[str, tuple[Side, Side]] = {}
    first_open = None  # (received, buy venue) of the first instant with q* > 0
    at = 0
    for buy, sell, profit, ts, quantity, buy_vwap, sell_vwap in signals:
        while at < len(raw) and raw[at][0] <= ts:
            received, venue, bids, asks = raw[at]
            books[venue] = (bids, asks)
            at += 1
            if first_open is None and len(books) == 2:
                for b, s in (VENUES, VENUES[::-1]):
                    if brute_force(books[b][1], books[s][0])[1] > 0:
                        first_open = (received, b)
        asks, bids = books[buy][1], books[sell][0]
        q, best = brute_force(asks, bids)
        assert quantity == pytest.approx(q, rel=1e-9)
        assert profit == pytest.approx(best, rel=1e-9)
        assert buy_vwap == pytest.approx(walk(asks, q) / q, rel=1e-12)
        assert sell_vwap == pytest.approx(walk(bids, q) / q, rel=1e-12)
    assert first_open == (signals[0][3], signals[0][0])


async def test_backtest_of_the_file_equals_the_replay(replayed: tuple[Path, Any]) -> None:
    data_dir, summary = replayed
    s = settings(data_dir)
    params, _ = params_for_data(s.exchanges, VENUES)
    result = await run_backtest(s, open_quote_file(FILE).ticks(), params)
    with closing(sqlite3.connect(data_dir / "arbot.db")) as conn:
        _, trades = run_trades(conn)
    assert summary.books > 2000 and summary.signals > 10
    assert any(t.status == "completed" for t in trades)
    assert result.signals == summary.signals and result.episodes == len(summary.episodes)
    assert result.ticks == summary.ticks
    assert result.trade_rows == trades
