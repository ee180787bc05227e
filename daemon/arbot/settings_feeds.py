"""The exchanges' settings ([[exchanges]]) and how their feeds run ([feeds])."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from arbot.settings_base import Fraction, Lax, Positive
from arbot.settings_base import Section as _Section

MAX_WORKERS = 256


MAX_DEPTH = 1000  # order-book levels a side a feed, a replay or a query may ask for


class ExchangeSettings(_Section):
    id: str = Field(min_length=1, description="ccxt exchange id, e.g. 'binance'")
    name: str = ""
    enabled: bool = True
    arbitrage_enabled: bool = True
    symbols: Annotated[tuple[str, ...], Lax] = Field(min_length=1)
    mode: Literal["auto", "ws", "rest"] = "auto"
    # Order-book levels to follow per side (0: best bid/ask only). With N > 0 the feed
    # follows each symbol's book and takes its quotes from the book's top.
    depth: int = Field(0, ge=0, le=MAX_DEPTH)
    poll_interval: Positive = 2.0
    watch_timeout: Positive = 30.0
    maker_fee: Fraction = 0.001
    taker_fee: Fraction = 0.001
    region: str | None = None
    premium_baseline: float = Field(0.0, gt=-1, lt=10)
    min_trade_amount: float = Field(10.0, ge=0)
    max_trade_amount: float = Field(10_000.0, gt=0)
    # ccxt's per-exchange `options` (deep-merged into the exchange's defaults).
    ccxt_options: dict[str, Any] = Field(default_factory=dict)
    # Other ccxt constructor settings: enableRateLimit, timeout, apiKey, secret, ...
    ccxt_config: dict[str, Any] = Field(default_factory=dict)
    url_override: str | None = Field(None, pattern=r"^(https?|wss?)://")
    sandbox: bool = False

    @model_validator(mode="after")
    def _check(self) -> ExchangeSettings:
        if not self.name:
            object.__setattr__(self, "name", self.id)
        if self.min_trade_amount > self.max_trade_amount:
            raise ValueError("min_trade_amount must not exceed max_trade_amount")
        if "options" in self.ccxt_config:
            raise ValueError("ccxt_config.options: put ccxt's options in ccxt_options")
        return self

    @field_validator("symbols")
    @classmethod
    def _unified(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if "/" not in s:
                raise ValueError(f"symbol {s!r} is not a unified ccxt symbol like 'BTC/USDT'")
        if len(set(v)) != len(v):
            raise ValueError("symbols are listed twice")
        return v


class FeedsSettings(_Section):
    # Processes running the exchanges' feeds: 1 runs them in the daemon's own process;
    # N > 1 spreads the exchanges over N worker processes (one core each); "auto" is one
    # per core but the daemon's.
    workers: int | Literal["auto"] = 1

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: Any) -> Any:
        # One message for every bad value (the union would give one line per member).
        if v == "auto" or (type(v) is int and 1 <= v <= MAX_WORKERS):
            return v
        raise ValueError(f'must be a whole number from 1 to {MAX_WORKERS}, or "auto"')

    def worker_count(self, cores: int | None = None) -> int:
        """The number of feed processes: `workers`, or for "auto" the cores this process
        may run on but one (at least 1)."""
        if self.workers != "auto":
            return self.workers
        if cores is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return max(1, cores - 1)
