"""`arbot query`'s analysis queries give the same answers on both backends for the same
data (the spec's inserts): price history, spreads with median and stdev, signals and their
totals, daily performance; signals found through order books with their executable trade."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from arbot.metrics import Metrics
from arbot.models import BookTrade, Episode, Signal
from arbot.records import EpisodesOpen, OpenEpisodeState, SignalFound
from arbot.settings import PostgresSettings
from arbot.storage.backend import backend_of
from arbot.storage.queries import Queries
from tests.postgres.backends import Backend
from tests.storage.test_schema_spec_sql import INSERT_TICKER, SPEC_STATEMENTS, ticks

NOW = time.time()


def fill(backend: Backend) -> None:
    with backend.db() as db:
        rows = [*ticks("BTC/USDT", "binance", 150), *ticks("BTC/USDT", "okx", 120)]
        db.executemany(INSERT_TICKER, rows)
        sql, params = SPEC_STATEMENTS["save_signal"]
        db.execute(sql, (*params[:-1], NOW - 60))
        for name in ("create_trade", "update_trade_execution"):
            db.execute(*SPEC_STATEMENTS[name])


def answers(q: Queries) -> dict[str, Any]:
    return {
        "prices": q.price_history("BTC/USDT", "okx", start=1010.0, end=1020.0),
        "prices_desc": q.price_history(
            "BTC/USDT", "okx", start=0.0, end=2000.0, limit=3, newest_first=True
        ),
        "names": q.known_names("exchanges"),
        "spreads": q.spread_analysis(1005.0, None, 100),
        "spreads_one": q.spread_analysis(0.0, "BTC/USDT", 10),
        "signals": q.list_signals(NOW - 3600, exchange="okx", min_profit_percent=0.5),
        "stats": q.signal_stats(1.0, NOW),
        "performance": q.daily_performance(30, NOW),
    }


def approximate(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: approximate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approximate(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    return value


def types(value: Any) -> Any:
    """The shape of a result with the Python type of every leaf (None stays None)."""
    if isinstance(value, dict):
        return {k: types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [types(v) for v in value]
    return None if value is None else type(value).__name__


def test_same_answers_of_the_same_types_on_both_backends(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    """One Queries class over both backends' SQL: equal values and equal Python types."""
    sqlite_side = Backend("sqlite", tmp_path, None)
    pg_side = Backend("postgresql", tmp_path, pg_settings)
    fill(sqlite_side)
    fill(pg_side)
    with backend_of(sqlite_side.settings).reader() as q:
        expected = answers(q)
    with backend_of(pg_side.settings).reader() as q:
        got = answers(q)
    assert len(expected["spreads"]) == 2 and len(expected["signals"]) == 1  # not vacuous
    assert expected["performance"] and expected["stats"]["total_signals"] == 1
    for key, value in got.items():
        assert value == approximate(expected[key]), key
        assert types(value) == types(expected[key]), key


BOOK_SIGNAL = Signal(
    "BTC/USDT", "okx", "binance", 100.0, 100.6, 0.1597, 0.3192, 0.3, 0.3, 0.8, "stable",
    NOW - 30, "k1", BookTrade(0.5, 100.0, 100.52, ((20.0, 0.399), (10_000.0, None))),
)  # fmt: skip
TOP_SIGNAL = Signal(
    "BTC/USDT", "okx", "kraken", 100.0, 100.3, 0.2, 0.2, 1.0, 1.0, 0.9, "stable", NOW - 20, "k2"
)
EPISODE = Episode("k1", "BTC/USDT", "okx", "binance", NOW - 30, NOW - 10, 0.399, 3, 1, "depth",
                  peak_profit=0.1597)  # fmt: skip
LEFT_OPEN = OpenEpisodeState(
    "k3", "BTC/USDT", "okx", "BTC/USDT", "binance", "BTC/USDT", NOW - 5, 0.3, 1, 1, 0.3,
    NOW - 5, 0.25,
)  # fmt: skip


async def test_signals_through_books_keep_their_trade_on_both_backends(
    backend: Backend, metrics: Metrics
) -> None:
    """Written by the batch writer, read by `arbot query signals`: a signal through books
    with its quantity, VWAPs and edges at sizes, one at the top of book without; an
    episode's peak executable profit, also across a restart; pruned with its signal."""
    writer = backend.writer(metrics)
    sid = (await asyncio.to_thread(writer.resume_state)).first_ids["arbitrage_signals"]
    found = [SignalFound(sid, BOOK_SIGNAL), SignalFound(sid + 1, TOP_SIGNAL)]
    writer.add([], [*found, EPISODE, EpisodesOpen((LEFT_OPEN,))])
    await writer.close()
    with backend_of(backend.settings).reader() as q:
        top, books = q.list_signals(NOW - 3600)
    assert (top["sell_exchange"], top["quantity"], top["size_edges"]) == ("kraken", None, None)
    assert (top["buy_vwap"], top["sell_vwap"]) == (None, None)
    assert books["profit"] == 0.1597 and books["profit_percent"] == 0.3192
    assert (books["quantity"], books["buy_vwap"], books["sell_vwap"]) == (0.5, 100.0, 100.52)
    assert books["size_edges"] == [
        {"notional": 20.0, "edge_percent": 0.399},
        {"notional": 10_000.0, "edge_percent": None},
    ]
    assert backend.rows("SELECT peak_profit FROM signal_episodes") == [(0.1597,)]
    again = await asyncio.to_thread(backend.writer(metrics).resume_state)
    assert again.episodes == (LEFT_OPEN,)
    # Retention deletes signals: their executable trade goes with them.
    backend.rows("DELETE FROM arbitrage_signals")
    assert backend.rows("SELECT count(*) FROM signal_book_trades") == [(0,)]
