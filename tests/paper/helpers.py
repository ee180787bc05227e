"""Builders for paper-executor tests: signals, ticks, order books, exchange params, an
in-memory arbot.db."""

from __future__ import annotations

import sqlite3
from typing import Any

from arbot.backtest import memory_db
from arbot.models import Book, BookTrade, ExchangeParams, Level, Signal, Tick
from arbot.paper import PaperExecutor
from arbot.records import Record
from arbot.settings import PaperSettings
from arbot.storage.sqlite.records_sql import write_records
from arbot.storage.sqlite.signals import insert_signal

FEE = 0.001


def params(*names: str, fee: float = FEE, min_amount: float = 1.0) -> dict[str, ExchangeParams]:
    return {n: ExchangeParams(n, True, True, None, 0.0, fee, fee, min_amount, 1e9) for n in names}


def signal(
    ask: float = 100.0, bid: float = 101.0, size: float = 1.0, ts: float = 0.0, **kw: Any
) -> Signal:
    fields: dict[str, Any] = {
        "symbol": "BTC/USDT",
        "buy_exchange": "okx",
        "sell_exchange": "binance",
        "buy_price": ask,
        "sell_price": bid,
        "profit": size * (bid - ask),
        "profit_percent": 100 * (bid - ask) / ask,
        "buy_size": size,
        "sell_size": size,
        "confidence": 0.9,
        "trend_direction": "stable",
        "timestamp": ts,
        "episode_key": f"BTC/USDT|okx|binance|{ts}",
    }
    fields.update(kw)
    return Signal(**fields)


def tick(
    exchange: str,
    bid: float,
    ask: float,
    ts: float,
    size: float | None = 10.0,
    *,
    symbol: str = "BTC/USDT",
) -> Tick:
    return Tick(exchange, symbol, bid, ask, size, size, ts, ts)


def book_signal(quantity: float, buy_vwap: float, sell_vwap: float, **kw: Any) -> Signal:
    """A signal through order books planning `quantity` at the two VWAPs (top of book at
    the VWAPs too: only the plan matters to the executor)."""
    trade = BookTrade(quantity, buy_vwap, sell_vwap, ())
    return signal(ask=buy_vwap, bid=sell_vwap, size=quantity, book_trade=trade, **kw)


def book(
    exchange: str,
    ts: float,
    *,
    bids: tuple[Level, ...] = ((1.0, 1000.0),),
    asks: tuple[Level, ...] = ((1000.0, 1000.0),),
    symbol: str = "BTC/USDT",
) -> Book:
    return Book(exchange, symbol, bids, asks, ts, ts)


class Harness:
    """An executor whose records go into a private in-memory arbot.db, with its signals
    recorded. Records emitted so far are written before every read of `conn`."""

    def __init__(
        self, settings: PaperSettings, names: tuple[str, ...] = ("okx", "binance"), **param_kw: Any
    ) -> None:
        self._conn = memory_db()
        self.records: list[Record] = []
        self._written = 0
        self._next_signal_id = 1
        self.executor = PaperExecutor(settings, params(*names, **param_kw), self.records.append)

    @property
    def conn(self) -> sqlite3.Connection:
        write_records(self._conn, self.records[self._written :])
        self._written = len(self.records)
        return self._conn

    def signal(self, sig: Signal, now: float) -> int:
        signal_id = self._next_signal_id
        self._next_signal_id += 1
        insert_signal(self.conn, signal_id, sig)
        self.executor.on_signal(signal_id, sig, now)
        return signal_id

    def tick(self, t: Tick, now: float | None = None) -> None:
        self.executor.on_tick(t, t.timestamp if now is None else now)

    def instant(self, *items: Tick | Book) -> None:
        """Quotes and books of one instant, handed over together as the engine does."""
        ticks = [i for i in items if isinstance(i, Tick)]
        books = [i for i in items if isinstance(i, Book)]
        self.executor.on_instant(ticks, items[0].timestamp, books)

    def trades(self) -> list[sqlite3.Row]:
        conn = self.conn
        conn.row_factory = sqlite3.Row
        try:
            return list(conn.execute("SELECT * FROM trades ORDER BY id"))
        finally:
            conn.row_factory = None
