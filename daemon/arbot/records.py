"""What the engine produces besides stored ticks: typed records, one type per row kind.

A sink maps each to storage (storage/sqlite/records_sql.py for SQLite). Ids are allocated by the
engine from the first free ids its sink reported, so a record references rows (a trade its
signal) before anything is committed, and no storage call is needed to produce it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

from arbot.models import (
    BalanceRow,
    Book,
    Episode,
    ExecutionData,
    FeedGap,
    Signal,
    Tick,
    TradeParams,
)

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
    peak_profit: float | None = None


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
RECORD_KINDS = tuple(t.__name__ for t in get_args(Record))


@dataclass(slots=True)
class Output:
    """Ticks to store (filtered, separated), records and order books (depth > 0), each in
    the order they happened."""

    ticks: list[Tick] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    books: list[Book] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Resume:
    """What a previous run left for this one: first free row ids, the paper balances of
    its last snapshot, and its open episodes."""

    first_ids: Mapping[IdTable, int]
    balances: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    episodes: tuple[OpenEpisodeState, ...] = ()


class Sink(Protocol):
    """Where the engine's outputs go; only the sink (with the source and the clock) differs
    between the daemon (sink.StorageSink), a replay (replay.ReplaySink) and a backtest
    (backtest.MemorySink)."""

    def put(self, out: Output) -> None:
        """Take one output; never waits."""

    async def room(self) -> None:
        """Return when the sink takes more (back-pressure, after each put)."""

    async def close(self) -> None:
        """No more input: return once everything put is stored."""
