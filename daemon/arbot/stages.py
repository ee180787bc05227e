"""The daemon's data path, built once the database answered: queue -> pipeline (engine) ->
sink -> writer, the flow monitor, and the feeds (in the daemon's process, or in worker
processes with `feeds.workers` > 1); and the /metrics and /healthz answers over them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from arbot.engine import Engine
from arbot.feedset import FeedSet
from arbot.health import FlowMonitor, waiting_for_storage
from arbot.metrics import Metrics
from arbot.metrics_server import MetricsServer
from arbot.models import ExchangeParams
from arbot.notify.service import Notifications, NotifyingSink
from arbot.notify.targets import Target
from arbot.pipeline import Pipeline
from arbot.records import Resume
from arbot.scheduler import update_size_gauges
from arbot.settings import ExchangeSettings, Settings
from arbot.sink import StorageSink
from arbot.storage.backend import Backend
from arbot.storage.batches import BatchWriter
from arbot.tick_queue import TickQueue
from arbot.workers.pool import WorkerPool

Clock = Callable[[], float]


class Feeds(Protocol):
    """The exchanges' feeds, putting into the queue: FeedSet or WorkerPool."""

    async def run(self, exchanges: Iterable[ExchangeSettings]) -> None: ...

    def apply(
        self, before: Iterable[ExchangeSettings], after: Iterable[ExchangeSettings]
    ) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Stages:
    """The data path of one run: queue -> pipeline (engine) -> sink -> writer."""

    queue: TickQueue
    pipeline: Pipeline
    sink: StorageSink
    writer: BatchWriter
    monitor: FlowMonitor
    feeds: Feeds
    notify: Notifications


def build_stages(
    s: Settings,
    metrics: Metrics,
    clock: Clock,
    *,
    writer: BatchWriter,
    params: Mapping[str, ExchangeParams],
    resume: Resume,
    targets: tuple[Target, ...],
    last_ticks: Mapping[str, float | None],
) -> Stages:
    engine = Engine(s, params, resume, paper=s.paper.enabled, detect=s.detector.enabled)
    after = s.metrics.storage_degraded_after
    notify = Notifications(targets, metrics, clock, storage_after=after)
    sink = NotifyingSink(notify, writer, s.storage, metrics)
    pipeline = Pipeline(engine, sink, metrics)
    metrics.queue_capacity.set(s.storage.queue_size)
    metrics.shard_info.labels(str(s.shard.index), str(s.shard.count)).set(1)
    queue = TickQueue(s.storage.queue_size)
    workers = s.feeds.worker_count()
    pool: WorkerPool | None = None
    monitor = FlowMonitor(
        (e.name for e in s.enabled_exchanges),
        accepted=lambda: pipeline.accepted,
        committed=lambda: pipeline.committed,
        started=clock(),
        waiting=lambda: queue.qsize() + sink.backlog,
        attempts=lambda: writer.attempts,
        queue_full=queue.full,
        storage=writer.retrying,
        workers=lambda: pool.alive() if pool is not None else None,
    )
    notify.watch(monitor.feeds, writer.retrying)
    feeds: Feeds
    if workers > 1:
        feeds = pool = WorkerPool(
            workers, queue, monitor, metrics, s.logging, clock=clock, last_ticks=last_ticks
        )
        for cfg in s.enabled_exchanges:  # computed here: the workers' feeds send no gauge
            metrics.seconds_since_tick.labels(cfg.name).set_function(
                _seconds_since_tick(monitor, cfg.name, clock)
            )
    else:
        feeds = FeedSet(queue, monitor, metrics, clock, last_ticks)
    return Stages(queue, pipeline, sink, writer, monitor, feeds, notify)


def _seconds_since_tick(monitor: FlowMonitor, name: str, clock: Clock) -> Callable[[], float]:
    def seconds() -> float:
        feed = monitor.feeds.get(name)
        if feed is None:
            return 0.0
        return max(0.0, clock() - (feed.last_tick or feed.started))

    return seconds


def metrics_server(
    s: Settings,
    metrics: Metrics,
    backend: Backend,
    *,
    writer: BatchWriter,
    stages: Callable[[], Stages | None],
    clock: Clock,
) -> MetricsServer:
    """Started before the stages exist: until then /healthz says it waits for storage."""

    def refresh() -> None:
        if (current := stages()) is None:
            return
        metrics.queue_depth.set(current.queue.qsize())
        metrics.asyncio_tasks.set(len(asyncio.all_tasks()))
        metrics.storage_backlog.set(current.sink.backlog)
        if (paper := current.pipeline.engine.paper) is not None:
            for status, n in (
                ("created", paper.created),
                ("completed", paper.completed),
                ("failed", paper.failed),
            ):
                metrics.paper_trades.labels(status).set(n)
            metrics.paper_pending.set(paper.pending())
        update_size_gauges(backend, metrics)

    def health() -> tuple[bool, dict[str, Any]]:
        if (current := stages()) is None:
            return waiting_for_storage(writer.retrying())
        return current.monitor.health(
            clock(),
            s.metrics.healthy_after,
            s.metrics.min_feeds_up,
            s.metrics.storage_degraded_after,
        )

    return MetricsServer(s.metrics.listen, metrics, refresh, health)
