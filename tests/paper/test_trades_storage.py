"""Trade and balance-snapshot ops write the spec's rows with explicit simulated times."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbot.models import BalanceRow, ExecutionData, TradeParams, iso_utc
from arbot.storage.schema import open_database
from arbot.storage.sqlite.trades import (
    TradeManager,
    create_trade,
    insert_balance_snapshot,
    latest_balances,
    update_trade_execution,
)

PARAMS = TradeParams(
    signal_id=None,
    symbol="BTC/USDT",
    buy_exchange="okx",
    sell_exchange="binance",
    planned_buy_price=100.0,
    planned_sell_price=101.0,
    quantity=2.0,
    planned_profit=1.5,
    started_at="2024-08-08 10:00:00.250",
)


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    c = open_database(data_dir, "arbot")
    yield c
    c.close()


def test_iso_utc_has_milliseconds_and_is_utc() -> None:
    assert iso_utc(1723111200.25) == "2024-08-08 10:00:00.250"


def test_create_then_update_records_planned_and_actual(conn: sqlite3.Connection) -> None:
    """create_trade writes a pending row under the given id; the update completes it with
    the fill, the filled quantity and the simulated completion time."""
    create_trade(conn, 7, PARAMS)
    row = conn.execute("SELECT status, started_at, quantity FROM trades WHERE id = 7").fetchone()
    assert row == ("pending", "2024-08-08 10:00:00.250", 2.0)
    done = ExecutionData(
        status="completed",
        buy_order_id="paper-7-buy",
        sell_order_id="paper-7-sell",
        actual_buy_price=100.5,
        actual_sell_price=100.9,
        actual_profit=0.3,
        fees_paid=0.5,
        slippage=0.2,
        completed_at="2024-08-08 10:00:01.000",
        quantity=1.5,
    )
    update_trade_execution(conn, 7, done)
    row = conn.execute(
        "SELECT status, quantity, actual_buy_price, actual_profit, fees_paid, slippage,"
        " completed_at, planned_profit FROM trades WHERE id = 7"
    ).fetchone()
    assert row == ("completed", 1.5, 100.5, 0.3, 0.5, 0.2, "2024-08-08 10:00:01.000", 1.5)


def test_update_of_a_missing_trade_names_its_id(conn: sqlite3.Connection) -> None:
    with pytest.raises(LookupError, match="id 99"):
        update_trade_execution(conn, 99, ExecutionData(status="failed"))


def test_balance_snapshots_upsert_and_latest_returns_totals(conn: sqlite3.Connection) -> None:
    """total_balance is generated; a repeated instant replaces; latest picks the last one."""
    insert_balance_snapshot(conn, [BalanceRow("okx", "USDT", 90.0, 10.0)], 1.0)
    insert_balance_snapshot(conn, [BalanceRow("okx", "USDT", 80.0, 10.0)], 1.0)
    insert_balance_snapshot(conn, [BalanceRow("okx", "USDT", 70.0, 0.0)], 2.0)
    rows = conn.execute(
        "SELECT timestamp, total_balance FROM balances ORDER BY timestamp"
    ).fetchall()
    assert rows == [(1.0, 90.0), (2.0, 70.0)]
    assert latest_balances(conn) == {"okx": {"USDT": 70.0}}


async def test_async_trade_manager_round_trip(data_dir: Path) -> None:
    """The spec's TradeManager API: create returns the new id, update completes the row."""
    manager = TradeManager(data_dir / "arbot.db")
    trade_id = await manager.create_trade(PARAMS)
    await manager.update_trade_execution(
        trade_id, ExecutionData(status="failed", error_message="stale: test")
    )
    conn = open_database(data_dir, "arbot")
    try:
        row = conn.execute(
            "SELECT status, error_message, completed_at IS NOT NULL FROM trades WHERE id = ?",
            (trade_id,),
        ).fetchone()
    finally:
        conn.close()
    assert row == ("failed", "stale: test", 1)
