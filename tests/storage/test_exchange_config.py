"""exchange_config mirrors the TOML's exchanges: upserted, removed ones disabled, idempotent."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbot.models import ExchangeParams
from arbot.settings import ExchangeSettings
from arbot.storage import exchange_config
from arbot.storage.schema import open_database


def exchange(ccxt_id: str, **kw: Any) -> ExchangeSettings:
    return ExchangeSettings(id=ccxt_id, symbols=("BTC/USDT",), **kw)


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    c = open_database(data_dir, "config")
    yield c
    c.close()


def rows(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    """Every column but updated_at, by id."""
    return conn.execute(
        "SELECT id, exchange, enabled, arbitrage_enabled, region, premium_baseline, maker_fee, "
        "taker_fee, min_trade_amount, max_trade_amount FROM exchange_config ORDER BY id"
    ).fetchall()


def test_configured_exchanges_are_inserted_with_their_parameters(conn: sqlite3.Connection) -> None:
    exchange_config.sync(
        conn,
        (
            exchange("binance", maker_fee=0.0008, taker_fee=0.001, region="global"),
            exchange(
                "okx",
                name="okx-eu",
                arbitrage_enabled=False,
                premium_baseline=0.03,
                min_trade_amount=5.0,
                max_trade_amount=500.0,
            ),
        ),
    )
    assert exchange_config.load(conn) == {
        "binance": ExchangeParams(
            "binance", True, True, "global", 0.0, 0.0008, 0.001, 10.0, 10_000.0
        ),
        "okx-eu": ExchangeParams("okx-eu", True, False, None, 0.03, 0.001, 0.001, 5.0, 500.0),
    }


def test_changed_parameters_update_the_same_row(conn: sqlite3.Connection) -> None:
    exchange_config.sync(conn, (exchange("binance"),))
    exchange_config.sync(conn, (exchange("binance", taker_fee=0.002, enabled=False),))
    assert rows(conn) == [(1, "binance", 0, 1, None, 0.0, 0.001, 0.002, 10.0, 10_000.0)]


def test_removed_exchanges_are_disabled_not_deleted(conn: sqlite3.Connection) -> None:
    """A venue dropped from the TOML keeps its row (history refers to it), disabled; it is
    enabled again when it comes back."""
    exchange_config.sync(conn, (exchange("binance"), exchange("kraken")))
    exchange_config.sync(conn, (exchange("binance"),))
    params = exchange_config.load(conn)
    assert (params["binance"].enabled, params["kraken"].enabled) == (True, False)
    exchange_config.sync(conn, (exchange("binance"), exchange("kraken")))
    assert exchange_config.load(conn)["kraken"].enabled


def test_removing_every_exchange_disables_all(conn: sqlite3.Connection) -> None:
    exchange_config.sync(conn, (exchange("binance"),))
    exchange_config.sync(conn, ())
    assert not exchange_config.load(conn)["binance"].enabled


def test_sync_is_idempotent(conn: sqlite3.Connection) -> None:
    config = (exchange("binance"), exchange("okx", taker_fee=0.0015))
    exchange_config.sync(conn, config)
    first = rows(conn)
    exchange_config.sync(conn, config)
    assert rows(conn) == first
    assert len(first) == 2


def test_a_failed_sync_changes_nothing(conn: sqlite3.Connection) -> None:
    """The upsert and the disabling are one transaction."""
    exchange_config.sync(conn, (exchange("binance"),))
    before = rows(conn)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE OF enabled ON exchange_config "
        "WHEN NEW.enabled = 0 BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        exchange_config.sync(conn, (exchange("okx"),))
    assert rows(conn) == before
    assert not conn.in_transaction
