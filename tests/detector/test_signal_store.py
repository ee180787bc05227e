"""Signals and episodes land in arbot.db as the spec's rows; statistics match them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from arbot.models import Episode, Signal
from arbot.storage.connection import db_path
from arbot.storage.schema import open_database
from arbot.storage.sqlite import signals as store

NOW = 1_700_000_000.0

SIGNAL = Signal(
    symbol="BTC/USDT",
    buy_exchange="a",
    sell_exchange="b",
    buy_price=100.0,
    sell_price=100.5,
    profit=0.9,
    profit_percent=0.3,
    buy_size=2.0,
    sell_size=2.0,
    confidence=0.5,
    trend_direction="stable",
    timestamp=NOW - 60,
    episode_key="BTC/USDT|a|b|1.000000",
)

EPISODE = Episode(
    key="BTC/USDT|a|b|1.000000",
    symbol="BTC/USDT",
    buy_exchange="a",
    sell_exchange="b",
    opened_at=NOW - 60,
    closed_at=NOW - 30,
    peak_profit_percent=0.4,
    updates=12,
    signals=2,
    close_reason="below_threshold",
)


def test_signal_row_has_the_given_id_and_fields(data_dir: Path) -> None:
    conn = open_database(data_dir, "arbot")
    store.insert_signal(conn, 41, SIGNAL)
    row = conn.execute(
        """SELECT id, symbol, buy_exchange, sell_exchange, buy_price, sell_price, profit,
                  profit_percent, buy_size, sell_size, confidence, trend_direction, executed,
                  timestamp, created_at FROM arbitrage_signals"""
    ).fetchone()
    assert row == (
        41,
        "BTC/USDT",
        "a",
        "b",
        100.0,
        100.5,
        0.9,
        0.3,
        2.0,
        2.0,
        0.5,
        "stable",
        0,
        NOW - 60,
        "2023-11-14 22:12:20.000",
    )


def test_episode_row_and_a_replayed_key_is_kept_once(data_dir: Path) -> None:
    conn = open_database(data_dir, "arbot")
    store.insert_episode(conn, EPISODE)
    store.insert_episode(conn, dataclasses.replace(EPISODE, updates=99))
    rows = conn.execute(
        "SELECT episode_key, duration, peak_profit_percent, updates, signals, close_reason"
        " FROM signal_episodes"
    ).fetchall()
    assert rows == [(EPISODE.key, 30.0, 0.4, 12, 2, "below_threshold")]


def test_statistics_over_the_period(data_dir: Path) -> None:
    conn = open_database(data_dir, "arbot")
    store.insert_signal(conn, 1, SIGNAL)
    store.insert_signal(conn, 2, dataclasses.replace(SIGNAL, profit_percent=0.5, confidence=1.0))
    store.insert_signal(conn, 3, dataclasses.replace(SIGNAL, timestamp=NOW - 2 * 3600))
    store.mark_signal_executed(conn, 2)
    stats = store.signal_statistics(conn, 1, NOW)
    assert stats == {
        "total_signals": 2,
        "executed_signals": 1,
        "execution_rate": 0.5,
        "avg_profit_percent": pytest.approx(0.4),
        "max_profit_percent": 0.5,
        "avg_confidence": 0.75,
    }
    assert store.signal_statistics(conn, 1, NOW + 7200)["execution_rate"] == 0
    with pytest.raises(LookupError, match="no row with id 9"):
        store.mark_signal_executed(conn, 9)


async def test_signal_manager_spec_api(data_dir: Path) -> None:
    manager = store.SignalManager(db_path(data_dir, "arbot"), clock=lambda: NOW)
    first = await manager.save_signal(SIGNAL)
    second = await manager.save_signal(dataclasses.replace(SIGNAL, profit_percent=0.5))
    assert second == first + 1
    await manager.mark_signal_executed(second)
    stats = await manager.get_signal_statistics(period_hours=24)
    assert (stats["total_signals"], stats["executed_signals"], stats["execution_rate"]) == (
        2,
        1,
        0.5,
    )
    with pytest.raises(LookupError, match="no row with id 999"):
        await manager.mark_signal_executed(999)
