"""The daemon's driver of the engine: queue -> engine -> storage sink, on the data's clock
(the ticks' receive times; the wall clock while no item comes and at the stop).

Items are taken from the queue in chunks and run through the engine at once; its output
goes to the sink, which never makes the engine wait (unless storage.backlog_overflow =
"block" and the backlog is full). A chunk that ends because the
chunk limit was reached leaves a trailing same-timestamp group open for the next chunk; a
chunk that empties the queue is evaluated at once (quotes that arrive together are one
instant, see engine.py). With no item for a second the engine is advanced on its own
(stale episodes close, paper trades time out).
After `run` returns (the queue was closed and emptied): the engine has finished (open
episodes kept for the next start) and everything is with the sink; accepted == committed +
skipped + dropped once the sink has drained.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from arbot.engine import Engine
from arbot.logs import get_logger
from arbot.metrics import Metrics
from arbot.models import Episode
from arbot.records import Output, Record, SignalFound, TradeSettled
from arbot.sink import StorageSink
from arbot.tick_queue import TickQueue

Clock = Callable[[], float]
CHUNK = 4096  # queue items per engine call: large enough to amortise, small for latency
IDLE = 1.0  # seconds without an item before the engine is advanced on its own
GAUGE_INTERVAL = 0.5  # seconds between updates of the detector's gauges


class Pipeline:
    def __init__(self, engine: Engine, sink: StorageSink, metrics: Metrics) -> None:
        self.engine = engine
        self.sink = sink
        self._metrics = metrics
        self._spread_symbols: set[str] = set()
        # Engine counters already counted in metrics: accepted, signals, episodes, conflated,
        # unchanged.
        self._counted = (0, 0, 0, 0, 0)
        self._gauges_at = 0.0
        self._announced: set[str] = set()  # episode keys whose opening was logged
        self._log = get_logger(component="engine")

    @property
    def accepted(self) -> int:
        return self.engine.accepted

    @property
    def committed(self) -> int:
        return self.sink.writer.committed

    @property
    def skipped(self) -> int:
        """Accepted ticks not stored by conflation or skip-unchanged."""
        return sum(self.engine.skipped)

    async def run(self, queue: TickQueue, clock: Clock = time.time) -> None:
        """Consume until the queue is closed and empty, then finish the engine."""
        engine, sink = self.engine, self.sink
        while True:
            items, stop = await queue.take(CHUNK, IDLE)
            now = clock()
            if items:
                # The data's clock (each instant at its receive time), as in a replay or a
                # backtest of the stored ticks: one wall-clock reading per chunk would give
                # every instant in it the same time (signals of different quotes one fill
                # time), and the trades would depend on how the queue happened to be chunked.
                out = engine.process(items, complete=stop or queue.empty())
            else:
                out = engine.advance(now)  # no data: time still passes
            if stop:
                finished = engine.finish(now, "daemon stopped", keep_open=True)
                out.ticks.extend(finished.ticks)
                out.records.extend(finished.records)
            self._account(queue)
            self._observe(out)
            if out.records:
                self._log_records(out.records)
            sink.put(out)
            if stop:
                return
            await sink.room()

    def _account(self, queue: TickQueue) -> None:
        m, e = self._metrics, self.engine
        conflated, unchanged = e.skipped
        now = (e.accepted, e.signals, e.episodes, conflated, unchanged)
        before, self._counted = self._counted, now
        m.ticks_accepted.inc(now[0] - before[0])
        m.signals_recorded.inc(now[1] - before[1])
        m.episodes_closed.inc(now[2] - before[2])
        if now[3] > before[3]:
            m.ticks_skipped.labels("conflated").inc(now[3] - before[3])
        if now[4] > before[4]:
            m.ticks_skipped.labels("unchanged").inc(now[4] - before[4])
        m.queue_depth.set(queue.qsize())
        t = time.monotonic()
        if t - self._gauges_at >= GAUGE_INTERVAL:
            self._gauges_at = t
            self._update_gauges()

    def _observe(self, out: Output) -> None:
        """The metrics of what the engine produced: book ages, signal edges."""
        m = self._metrics
        if out.books:
            m.book_ages.seen(out.books)
        for r in out.records:
            if isinstance(r, SignalFound):
                m.signal_found(r.signal, self.engine.params)

    def _log_records(self, records: list[Record]) -> None:
        """An info line per opportunity opened or closed and per paper trade settled: a
        few a minute, what an operator following the journal wants to see."""
        log = self._log
        for r in records:
            if isinstance(r, SignalFound) and r.signal.episode_key not in self._announced:
                self._announced.add(r.signal.episode_key)
                sig = r.signal
                log.info(
                    "opportunity_opened",
                    symbol=sig.symbol,
                    buy=sig.buy_exchange,
                    sell=sig.sell_exchange,
                    profit_percent=round(sig.profit_percent, 4),
                    size=sig.buy_size,
                )
            elif isinstance(r, Episode):
                self._announced.discard(r.key)
                log.info(
                    "opportunity_closed",
                    symbol=r.symbol,
                    buy=r.buy_exchange,
                    sell=r.sell_exchange,
                    seconds=round(r.closed_at - r.opened_at, 3),
                    peak_percent=round(r.peak_profit_percent, 4),
                    reason=r.close_reason,
                )
            elif isinstance(r, TradeSettled):
                d = r.data
                log.info(
                    "paper_trade",
                    trade_id=r.id,
                    status=d.status,
                    profit=d.actual_profit,
                    fees=d.fees_paid,
                    error=d.error_message,
                )

    def _update_gauges(self) -> None:
        detector = self.engine.detector
        if detector is None:
            return
        self._metrics.opportunities_open.set(detector.open_episodes())
        spreads = detector.best_spreads()
        for symbol, spread in spreads.items():
            self._metrics.best_spread.labels(symbol).set(spread)
        for gone in self._spread_symbols - spreads.keys():
            self._metrics.best_spread.remove(gone)  # no current spread: no sample, not a stale one
        self._spread_symbols = set(spreads)
