"""Settings, ticks and comparable outputs for engine tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from arbot.engine import Engine
from arbot.models import ExchangeParams, Tick
from arbot.recorded import run
from arbot.records import Record, Resume
from arbot.settings import ExchangeSettings, Settings
from arbot.venues import params_from_settings

EXCHANGES = ("binance", "kraken", "okx")
SYMBOLS = ("BTC/USDT", "ETH/USDT")
HEADER = "ts,exchange,symbol,bid,bid_size,ask,ask_size\n"


def settings(data_dir: Path | None = None, *, fee: float = 0.0005, **storage: Any) -> Settings:
    """Three exchanges, paper trading funded on each (so trades and snapshots happen)."""
    exchanges = tuple(
        ExchangeSettings(
            id=name, symbols=SYMBOLS, taker_fee=fee, maker_fee=fee, min_trade_amount=1.0
        )
        for name in EXCHANGES
    )
    funds = {name: {"USDT": 100_000.0, "BTC": 2.0, "ETH": 20.0} for name in EXCHANGES}
    return Settings.model_validate(
        {
            "exchanges": [e.model_dump() for e in exchanges],
            "detector": {"min_profit_percent": 0.05, "hysteresis_percent": 0.02, "cooldown": 3.0},
            "paper": {
                "enabled": True,
                "latency_ms": 0,
                "max_fill_wait": 3.0,
                "snapshot_interval": 10.0,
                "balances": funds,
            },
            "storage": {"data_dir": str(data_dir or Path("unused")), **storage},
        }
    )


def params(s: Settings) -> dict[str, ExchangeParams]:
    return params_from_settings(s.exchanges)


def engine_records(s: Settings, ticks: Iterable[Tick]) -> tuple[list[Record], list[Tick]]:
    """Everything the engine produces for `ticks` on the data's clock, as a replay runs it."""
    engine = Engine(s, params(s), Resume({}), paper=True)
    records: list[Record] = []
    stored: list[Tick] = []
    for out in run(engine, ticks):
        records.extend(out.records)
        stored.extend(out.ticks)
    return records, stored


def write_csv(path: Path, ticks: Sequence[Tick]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for t in ticks:
            f.write(
                f"{t.timestamp!r},{t.exchange},{t.symbol},{t.bid!r},{t.bid_size!r},"
                f"{t.ask!r},{t.ask_size!r}\n"
            )
    return path


def table_rows(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Signals, episodes and trades as stored, without columns that name the run."""
    return {
        "signals": conn.execute(
            """SELECT id, symbol, buy_exchange, sell_exchange, buy_price, sell_price, profit,
                      profit_percent, buy_size, confidence, trend_direction, timestamp, executed
               FROM arbitrage_signals ORDER BY id"""
        ).fetchall(),
        "episodes": conn.execute(
            """SELECT episode_key, opened_at, closed_at, peak_profit_percent, updates, signals,
                      close_reason FROM signal_episodes ORDER BY episode_key"""
        ).fetchall(),
        "trades": conn.execute(
            """SELECT id, signal_id, symbol, buy_exchange, sell_exchange, quantity, status,
                      actual_buy_price, actual_sell_price, actual_profit, fees_paid,
                      error_message, started_at, completed_at
               FROM trades ORDER BY id"""
        ).fetchall(),
    }
