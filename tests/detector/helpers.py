"""Building blocks for detector tests: venues, settings and ticks with readable defaults."""

from __future__ import annotations

from typing import Any

from arbot.detector import Detector
from arbot.models import Episode, ExchangeParams, Signal, Tick
from arbot.settings import DetectorSettings

SYMBOL = "BTC/USDT"


def venue(
    name: str,
    *,
    fee: float = 0.0,
    baseline: float = 0.0,
    min_amount: float = 0.0,
    max_amount: float = 1e12,
    arbitrage: bool = True,
) -> ExchangeParams:
    return ExchangeParams(name, True, arbitrage, None, baseline, fee, fee, min_amount, max_amount)


def settings(**overrides: Any) -> DetectorSettings:
    base: dict[str, Any] = {
        "min_profit_percent": 0.1,
        "hysteresis_percent": 0.05,
        "max_quote_age": 5.0,
        "max_leg_skew": 2.0,
        "improve_step_percent": 0.05,
        "cooldown": 60.0,
        "trend_halflife": 10.0,
        "trend_threshold_percent": 0.01,
    }
    return DetectorSettings(**(base | overrides))


def detector(*venues: ExchangeParams, **overrides: Any) -> Detector:
    return Detector(settings(**overrides), {v.exchange: v for v in venues})


def tick(
    exchange: str,
    bid: float,
    ask: float,
    at: float,
    *,
    size: float | None = 1.0,
    symbol: str = SYMBOL,
    ts: float | None = None,
) -> Tick:
    return Tick(exchange, symbol, bid, ask, size, size, at if ts is None else ts, at)


def signals(outputs: list[Signal | Episode]) -> list[Signal]:
    return [o for o in outputs if isinstance(o, Signal)]


def episodes(outputs: list[Signal | Episode]) -> list[Episode]:
    return [o for o in outputs if isinstance(o, Episode)]
