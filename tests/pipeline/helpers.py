"""A scripted stand-in for the detector, a recording paper executor, tick/signal makers, and
the daemon's data path (queue -> pipeline -> engine -> sink -> writer) on a data dir."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Book, Episode, Signal, Tick
from arbot.pipeline import Clock, Pipeline
from arbot.records import OpenEpisodeState
from arbot.settings import Settings, StorageSettings
from arbot.sink import StorageSink
from arbot.storage.sqlite.writer import Writer
from arbot.tick_queue import TickQueue

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

    def on_instant(self, ticks: Sequence[Tick], now: float) -> list[Signal | Episode]:
        self.ticks.extend(ticks)
        return [signal(t.symbol, t.timestamp) for t in ticks if t.bid in self.signal_at]

    def on_tick(self, t: Tick, now: float) -> list[Signal | Episode]:
        return self.on_instant((t,), now)

    def on_feed_down(self, exchange: str, now: float) -> list[Episode]:
        self.feed_downs.append(exchange)
        return [episode(f"down-{exchange}")]

    def resume(self, states: Iterable[OpenEpisodeState], now: float) -> list[Episode]:
        return []

    def sweep(self, now: float) -> list[Episode]:
        return []

    def open_state(self) -> list[OpenEpisodeState]:
        return []

    def open_episodes(self) -> int:
        return 1

    def best_spreads(self) -> Mapping[str, float]:
        return {"BTC/USDT": 0.25}


class RecordingExecutor:
    """In the paper executor's place: counts ticks, records the signals with their ids."""

    def __init__(self) -> None:
        self.ticks = 0
        self.signals: list[tuple[int, Signal]] = []

    def on_instant(self, ticks: Sequence[Tick], now: float, books: Sequence[Book] = ()) -> None:
        self.ticks += len(ticks)

    def on_signal(self, signal_id: int, s: Signal, now: float) -> None:
        self.signals.append((signal_id, s))

    def on_time(self, now: float) -> None:
        pass

    def expire_all(self, now: float, reason: str) -> None:
        pass


def daemon_pipeline(
    storage: StorageSettings,
    metrics: Metrics,
    detector: ScriptedDetector | None = None,
    paper: RecordingExecutor | None = None,
) -> Pipeline:
    """The daemon's stages on storage.data_dir, the engine's detector and paper executor
    replaced by the scripted ones given (none: storage only)."""
    writer = Writer.open(storage, metrics)
    engine = Engine(Settings(storage=storage), {}, writer.resume_state(), paper=False, detect=False)
    engine.detector = detector  # type: ignore[assignment]
    engine.paper = paper  # type: ignore[assignment]
    return Pipeline(engine, StorageSink(writer, storage, metrics), metrics)


def writer_of(pipeline: Pipeline) -> Writer:
    writer = pipeline.sink.writer
    assert isinstance(writer, Writer)
    return writer


async def run_pipeline(pipeline: Pipeline, queue: TickQueue, clock: Clock = time.time) -> None:
    """Consume `queue` until its None sentinel beside the sink's task, then stop as the
    daemon does: the sink commits everything put, the writer closes."""
    sink_task = asyncio.create_task(pipeline.sink.run())
    try:
        await pipeline.run(queue, clock)
    finally:
        await pipeline.sink.close()
        await sink_task
        await pipeline.sink.writer.close()
