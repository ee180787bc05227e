"""What the engine produces besides stored ticks: typed records, one type per row kind.

A sink maps each to storage (storage/records_sql.py for SQLite). Ids are allocated by the
engine from the first free ids its sink reported, so a record references rows (a trade its
signal) before anything is committed, and no storage call is needed to produce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from arbot.models import BalanceRow, Episode, ExecutionData, FeedGap, Signal, TradeParams

IdTable = Literal["arbitrage_signals", "trades"]
ID_TABLES: tuple[IdTable, ...] = ("arbitrage_signals", "trades")


@dataclass(frozen=True, slots=True)
class SignalFound:
    id: int
    signal: Signal


@dataclass(frozen=True, slots=True)
class TradeOpened:
    id: int
    params: TradeParams


@dataclass(frozen=True, slots=True)
class TradeSettled:
    id: int
    data: ExecutionData


@dataclass(frozen=True, slots=True)
class SignalExecuted:
    signal_id: int


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    rows: tuple[BalanceRow, ...]
    at: float


@dataclass(frozen=True, slots=True)
class OpenEpisodeState:
    """An episode still open when a run stopped, enough to resume it (legs may trade
    different symbols of one quote group)."""

    key: str
    symbol: str
    buy_exchange: str
    buy_symbol: str
    sell_exchange: str
    sell_symbol: str
    opened_at: float
    peak_profit_percent: float
    updates: int
    signals: int
    last_signal_percent: float
    last_signal_at: float


@dataclass(frozen=True, slots=True)
class EpisodesOpen:
    """The episodes open when a run stops, for the next run to resume (replaces any
    earlier set)."""

    episodes: tuple[OpenEpisodeState, ...]


Record = (
    SignalFound
    | Episode
    | TradeOpened
    | TradeSettled
    | SignalExecuted
    | BalanceSnapshot
    | FeedGap
    | EpisodesOpen
)
