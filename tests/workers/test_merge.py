"""A worker's feed metrics reach the daemon's registry: counters grow by what the worker's
totals grew (a restarted worker starts from zero again), gauges take its value, the latency
histogram adds its buckets and sum."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from arbot.metrics import Metrics
from arbot.workers.merge import MetricsMerge, snapshot


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_worker_totals_add_up_in_the_daemon_across_a_restart() -> None:
    daemon = Metrics(CollectorRegistry())
    daemon.ticks_received.labels("okx").inc(5)  # before the worker (an earlier worker)
    worker = Metrics(CollectorRegistry())
    merge = MetricsMerge(daemon)
    worker.ticks_received.labels("okx").inc(3)
    worker.feed_up.labels("okx").set(1)
    worker.latency.labels("okx").observe(0.02)
    merge.apply(snapshot(worker))
    worker.ticks_received.labels("okx").inc(4)
    worker.latency.labels("okx").observe(3.0)
    merge.apply(snapshot(worker))
    merge.apply(snapshot(worker))  # nothing new: nothing added
    assert value(daemon, "arbot_ticks_received_total", exchange="okx") == 12
    assert value(daemon, "arbot_feed_up", exchange="okx") == 1
    assert value(daemon, "arbot_feed_latency_seconds_count", exchange="okx") == 2
    assert value(daemon, "arbot_feed_latency_seconds_sum", exchange="okx") == 3.02
    assert value(daemon, "arbot_feed_latency_seconds_bucket", exchange="okx", le="0.025") == 1
    assert value(daemon, "arbot_feed_latency_seconds_bucket", exchange="okx", le="2.5") == 1
    assert value(daemon, "arbot_feed_latency_seconds_bucket", exchange="okx", le="5.0") == 2

    restarted = Metrics(CollectorRegistry())
    again = MetricsMerge(daemon)
    restarted.ticks_received.labels("okx").inc(2)
    again.apply(snapshot(restarted))
    assert value(daemon, "arbot_ticks_received_total", exchange="okx") == 14
