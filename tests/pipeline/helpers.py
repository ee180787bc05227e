"""A scripted stand-in for the detector, a recording listener, and tick/signal makers."""

from __future__ import annotations

from collections.abc import Mapping

from arbot.models import Episode, Signal, Tick

T0 = 1_700_000_000.0


def tick(
    i: float, exchange: str = "binance", symbol: str = "BTC/USDT", bid: float | None = None
) -> Tick:
    ts = T0 + i
    price = 100.0 + i if bid is None else bid
    return Tick(exchange, symbol, price, price + 0.5, 1.0, 2.0, ts, ts + 0.01)


def signal(symbol: str, ts: float) -> Signal:
    return Signal(
        symbol,
        "okx",
        "binance",
        100.0,
        100.6,
        0.4,
        0.4,
        1.0,
        1.0,
        0.9,
        "stable",
        ts,
        f"{symbol}|okx|binance|{ts}",
    )


def episode(key: str) -> Episode:
    return Episode(key, "BTC/USDT", "okx", "binance", T0, T0 + 5, 0.5, 3, 1, "feed_down")


class ScriptedDetector:
    """Records what it sees; emits a Signal for ticks whose bid is in `signal_at`."""

    def __init__(self, signal_at: frozenset[float] = frozenset()) -> None:
        self.signal_at = signal_at
        self.ticks: list[Tick] = []
        self.feed_downs: list[str] = []

    def on_tick(self, t: Tick, now: float) -> list[Signal | Episode]:
        self.ticks.append(t)
        return [signal(t.symbol, t.timestamp)] if t.bid in self.signal_at else []

    def on_feed_down(self, exchange: str, now: float) -> list[Episode]:
        self.feed_downs.append(exchange)
        return [episode(f"down-{exchange}")]

    def open_episodes(self) -> int:
        return 1

    def best_spreads(self) -> Mapping[str, float]:
        return {"BTC/USDT": 0.25}


class RecordingListener:
    def __init__(self) -> None:
        self.ticks = 0
        self.signals: list[tuple[int, Signal]] = []

    def on_tick(self, t: Tick, now: float) -> None:
        self.ticks += 1

    def on_signal(self, signal_id: int, s: Signal, now: float) -> None:
        self.signals.append((signal_id, s))
