"""`arbot replay` of order books: the wide, book_snapshot_10 and incremental_book_L2
files of the same random books give identical signals, q*, VWAPs and edges at sizes; q*
checked by brute force on the raw books; the books stored rebuild to the file's; a file's
books replayed again, in another layout, are refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from arbot.errors import InputError
from arbot.models import Level
from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.settings import Settings, parse_settings
from arbot.storage.books import read_book
from arbot.venues import params_for_data

from .books import SYMBOL, VENUES, Snap, random_books, write_incremental, write_snapshot, write_wide

FEE = 0.001
SIZES = [100.0, 1000.0, 10_000.0]


def book_settings(data_dir: Path, **paper: Any) -> Settings:
    """Both venues without trade limits and min_profit_percent 0, so q* is the most
    profitable amount through the whole books."""
    exchanges = [
        {
            "id": v,
            "symbols": [SYMBOL],
            "taker_fee": FEE,
            "min_trade_amount": 0,
            "max_trade_amount": 1e12,
        }
        for v in VENUES
    ]
    return parse_settings(
        {
            "storage": {"data_dir": str(data_dir)},
            "exchanges": exchanges,
            "detector": {
                **{"min_profit_percent": 0.0, "hysteresis_percent": 0.0, "sizes": SIZES},
                **{"cooldown": 0.2, "improve_step_percent": 0.01},
            },
            "paper": paper,
        },
        "test",
    )


async def replay_into(data_dir: Path, path: Path, **paper: Any) -> None:
    s = book_settings(data_dir, **paper)
    source = open_quote_file(path)
    params, _ = params_for_data(s.exchanges, source.exchanges)
    await replay(source, s, params)


def stored_signals(data_dir: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        return conn.execute(
            """SELECT s.id, s.buy_exchange, s.sell_exchange, s.buy_price, s.sell_price,
                      s.profit, s.profit_percent, s.buy_size, s.confidence, s.timestamp,
                      t.quantity, t.buy_vwap, t.sell_vwap, t.size_edges
               FROM arbitrage_signals s LEFT JOIN signal_book_trades t ON t.signal_id = s.id
               ORDER BY s.id"""
        ).fetchall()
    finally:
        conn.close()


def stored_episodes(data_dir: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        return conn.execute(
            """SELECT episode_key, opened_at, closed_at, peak_profit_percent, peak_profit,
                      updates, signals, close_reason FROM signal_episodes ORDER BY id"""
        ).fetchall()
    finally:
        conn.close()


def book_at(snaps: list[Snap], venue: str, at: float) -> Snap:
    return [s for s in snaps if s.venue == venue and s.us / 1e6 <= at][-1]


def profit_at(asks: tuple[Level, ...], bids: tuple[Level, ...], q: float) -> tuple[float, ...]:
    """(raw cost, raw proceeds, profit net of both fees) of buying and selling q."""

    def walk(levels: tuple[Level, ...]) -> float:
        left, value = q, 0.0
        for price, amount in levels:
            take = min(left, amount)
            value += price * take
            left -= take
        assert left <= 1e-12 * q
        return value

    cost, proceeds = walk(asks), walk(bids)
    return cost, proceeds, proceeds * (1 - FEE) - cost * (1 + FEE)


def brute_force(asks: tuple[Level, ...], bids: tuple[Level, ...]) -> tuple[float, float]:
    """q* and its profit: profit is piecewise linear in q, so its maximum is where a level
    of either book ends; every such amount is tried."""
    cumulative: set[float] = set()
    for levels in (asks, bids):
        total = 0.0
        for _, amount in levels:
            total += amount
            cumulative.add(total)
    most = min(sum(a for _, a in asks), sum(a for _, a in bids))
    best = (0.0, 0.0)
    for q in sorted(c for c in cumulative if c <= most * (1 + 1e-12)):
        profit = profit_at(asks, bids, min(q, most))[2]
        if profit > best[1]:
            best = (min(q, most), profit)
    return best


def edge_at(asks: tuple[Level, ...], bids: tuple[Level, ...], notional: float) -> float | None:
    q, left = 0.0, notional
    for price, amount in asks:
        take = min(amount, left / price)
        q += take
        left -= take * price
        if left <= 1e-9:
            break
    else:
        return None
    if q > sum(a for _, a in bids) * (1 + 1e-12):
        return None
    _, proceeds, _ = profit_at(asks, bids, q)
    cost = notional * (1 + FEE)
    return 100 * (proceeds * (1 - FEE) - cost) / cost


async def test_three_layouts_replay_to_the_same_signals(tmp_path: Path) -> None:
    snaps = random_books()
    files = {
        "wide": write_wide(tmp_path / "wide.csv", snaps),
        "snapshot": write_snapshot(tmp_path / "snap.csv", snaps),
        "incremental": write_incremental(tmp_path / "inc.csv", snaps),
    }
    for name, path in files.items():
        await replay_into(tmp_path / name, path)
    signals = stored_signals(tmp_path / "wide")
    episodes = stored_episodes(tmp_path / "wide")
    assert len(signals) > 10 and all(s[10] is not None for s in signals)
    assert {(s[1], s[2]) for s in signals} == {("a", "b"), ("b", "a")}
    assert all(e[4] is not None for e in episodes)
    for name in ("snapshot", "incremental"):
        assert stored_signals(tmp_path / name) == signals, name
        assert stored_episodes(tmp_path / name) == episodes, name

    # q*, its profit, the VWAPs and the edges at sizes, from the raw books by brute force.
    thin = 0
    for s in signals[:: max(1, len(signals) // 12)]:
        buy, sell, at = s[1], s[2], s[9]
        asks, bids = book_at(snaps, buy, at).asks, book_at(snaps, sell, at).bids
        q, profit = brute_force(asks, bids)
        assert s[10] == pytest.approx(q, rel=1e-9) and s[5] == pytest.approx(profit, rel=1e-9)
        cost, proceeds, _ = profit_at(asks, bids, q)
        assert s[11] == pytest.approx(cost / q, rel=1e-9)
        assert s[12] == pytest.approx(proceeds / q, rel=1e-9)
        for (notional, edge), size in zip(json.loads(s[13]), SIZES, strict=True):
            want = edge_at(asks, bids, size)
            assert notional == size
            if want is None:
                thin += 1
                assert edge is None
            else:
                assert edge == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert thin > 0  # 10,000 is more than these books hold

    # The books stored rebuild to the file's, at every book's instant.
    conn = sqlite3.connect(tmp_path / "incremental" / "arbot.db")
    try:
        for snap in snaps[::7]:
            book = read_book(conn, snap.venue, SYMBOL, snap.us / 1e6)
            assert book is not None
            assert (book.bids, book.asks) == (snap.bids, snap.asks)
    finally:
        conn.close()


async def test_the_same_books_in_another_layout_are_refused(tmp_path: Path) -> None:
    snaps = random_books(150)
    await replay_into(tmp_path / "d", write_wide(tmp_path / "w.csv", snaps))
    with pytest.raises(InputError, match="already replayed into"):
        await replay_into(tmp_path / "d", write_snapshot(tmp_path / "s.csv", snaps))
    # Another cut of the same books (the first 100) lands on stored ticks: refused too.
    with pytest.raises(InputError, match="already holds a BTC/USDT ticks"):
        await replay_into(tmp_path / "d", write_incremental(tmp_path / "i.csv", snaps[:100]))
