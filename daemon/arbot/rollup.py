"""Daily performance rollups of paper trades and signals (one UTC day per row, idempotent).

Pure: the formulas; each backend reads the rows and writes the results with its own SQL
(storage/sqlite/rollups.py, storage/pg/rollups.py).

Definitions (money in quote currency, summed across symbols as is). A trade belongs to the
day its started_at falls on; "completed" trades are the filled ones.
  total_trades        every trade started that day (completed, failed or still pending)
  successful_trades   completed trades
  total_profit/fees   Σ actual_profit / Σ fees_paid of completed trades
  avg_profit_percent  mean of 100 · actual_profit / (quantity · actual_buy_price), completed
  win_rate            completed trades with actual_profit > 0 / completed trades (0..1)
  max_drawdown        largest fall of cumulative profit from its running peak (peak starts at
                      0), trades in completion order; >= 0
  sharpe_ratio        over the days D−29..D that have completed trades, with the daily return
                      r_d = Σ profit_d / Σ notional_d (return on traded notional):
                      mean(r) / stdev(r) · sqrt(365), sample stdev, risk-free rate 0;
                      NULL with fewer than two such days or zero stdev
  avg_trade_duration  mean seconds from started_at to completed_at, completed trades
symbol_stats, per symbol with signals or trades that day:
  signals_generated/executed  signals with a timestamp that day / of those marked executed
  avg_spread, max_spread      mean / max of the signals' profit_percent (net spread, %)
  total_volume                Σ quantity · actual_buy_price of completed trades
  profitability_score         100 · Σ actual_profit / Σ notional of completed trades (the
                              realised return on traded notional, %); 0 without trades
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

SHARPE_WINDOW_DAYS = 30
ANNUALISATION = math.sqrt(365)


@dataclass(frozen=True, slots=True)
class TradeRow:
    id: int
    symbol: str
    status: str
    quantity: float
    actual_buy_price: float | None
    actual_profit: float | None
    fees_paid: float
    started_at: str
    completed_at: str | None


@dataclass(frozen=True, slots=True)
class SignalDay:
    symbol: str
    generated: int
    executed: int
    avg_profit_percent: float
    max_profit_percent: float


@dataclass(frozen=True, slots=True)
class PerformanceRow:
    date: str
    total_trades: int
    successful_trades: int
    total_profit: float
    total_fees: float
    avg_profit_percent: float
    max_drawdown: float
    sharpe_ratio: float | None
    win_rate: float
    avg_trade_duration: float | None


@dataclass(frozen=True, slots=True)
class SymbolStatRow:
    symbol: str
    date: str
    signals_generated: int
    signals_executed: int
    avg_spread: float
    max_spread: float
    total_volume: float
    profitability_score: float


@dataclass(frozen=True, slots=True)
class DailyRollup:
    performance: PerformanceRow
    symbols: list[SymbolStatRow]


def previous_utc_day(now: float) -> date:
    """The day a rollup after midnight UTC should summarise."""
    return datetime.fromtimestamp(now, UTC).date() - timedelta(days=1)


def _parse(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _notional(t: TradeRow) -> float:
    return t.quantity * (t.actual_buy_price or 0.0)


def _completed(trades: Sequence[TradeRow]) -> list[TradeRow]:
    return [t for t in trades if t.status == "completed" and t.actual_profit is not None]


def max_drawdown(profits: Sequence[float]) -> float:
    peak = cumulative = worst = 0.0
    for p in profits:
        cumulative += p
        peak = max(peak, cumulative)
        worst = max(worst, peak - cumulative)
    return worst


def sharpe(daily_returns: Sequence[float]) -> float | None:
    if len(daily_returns) < 2:
        return None
    sd = statistics.stdev(daily_returns)
    return statistics.fmean(daily_returns) / sd * ANNUALISATION if sd > 0 else None


def daily_returns(trades: Sequence[TradeRow]) -> list[float]:
    """Per started-day return on notional, days with completed trades only, in day order."""
    by_day: dict[str, tuple[float, float]] = {}
    for t in _completed(trades):
        profit, notional = by_day.get(t.started_at[:10], (0.0, 0.0))
        by_day[t.started_at[:10]] = (profit + (t.actual_profit or 0.0), notional + _notional(t))
    return [p / n for _, (p, n) in sorted(by_day.items()) if n > 0]


@dataclass(frozen=True, slots=True)
class Summary:
    completed: int
    profit: float
    fees: float
    avg_profit_percent: float | None
    max_drawdown: float
    win_rate: float
    avg_duration: float | None


def summarise(trades: Sequence[TradeRow]) -> Summary:
    """Totals of `trades` (given in completion order) as defined in the module docstring."""
    done = _completed(trades)
    profits = [t.actual_profit or 0.0 for t in done]
    percents = [100.0 * (t.actual_profit or 0.0) / _notional(t) for t in done if _notional(t) > 0]
    durations = [_parse(t.completed_at) - _parse(t.started_at) for t in done if t.completed_at]
    return Summary(
        completed=len(done),
        profit=math.fsum(profits),
        fees=math.fsum(t.fees_paid for t in done),
        avg_profit_percent=statistics.fmean(percents) if percents else None,
        max_drawdown=max_drawdown(profits),
        win_rate=sum(1 for p in profits if p > 0) / len(done) if done else 0.0,
        avg_duration=statistics.fmean(durations) if durations else None,
    )


def performance(
    day: date, trades: Sequence[TradeRow], window: Sequence[TradeRow]
) -> PerformanceRow:
    """`trades`: those started on `day`; `window`: those started in the Sharpe window."""
    s = summarise(trades)
    return PerformanceRow(
        date=day.isoformat(),
        total_trades=len(trades),
        successful_trades=s.completed,
        total_profit=s.profit,
        total_fees=s.fees,
        avg_profit_percent=s.avg_profit_percent or 0.0,
        max_drawdown=s.max_drawdown,
        sharpe_ratio=sharpe(daily_returns(window)),
        win_rate=s.win_rate,
        avg_trade_duration=s.avg_duration,
    )


def symbol_stats(
    day: date, trades: Sequence[TradeRow], signals: Sequence[SignalDay]
) -> list[SymbolStatRow]:
    by_signal = {s.symbol: s for s in signals}
    out = []
    for symbol in sorted(set(by_signal) | {t.symbol for t in trades}):
        s = by_signal.get(symbol)
        done = [t for t in _completed(trades) if t.symbol == symbol]
        volume = math.fsum(_notional(t) for t in done)
        profit = math.fsum(t.actual_profit or 0.0 for t in done)
        out.append(
            SymbolStatRow(
                symbol=symbol,
                date=day.isoformat(),
                signals_generated=s.generated if s else 0,
                signals_executed=s.executed if s else 0,
                avg_spread=s.avg_profit_percent if s else 0.0,
                max_spread=s.max_profit_percent if s else 0.0,
                total_volume=volume,
                profitability_score=100.0 * profit / volume if volume > 0 else 0.0,
            )
        )
    return out


def window_start(day: date) -> date:
    """The first day of `day`'s Sharpe window."""
    return day - timedelta(days=SHARPE_WINDOW_DAYS - 1)


def compute(day: date, window: Sequence[TradeRow], signals: Sequence[SignalDay]) -> DailyRollup:
    """`day`'s rows from the trades started in its Sharpe window and its signals (both
    backends read them with their own SQL)."""
    todays = [t for t in window if t.started_at[:10] == day.isoformat()]
    return DailyRollup(performance(day, todays, window), symbol_stats(day, todays, signals))
