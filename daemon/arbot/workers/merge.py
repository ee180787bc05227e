"""A feed worker's metrics in the daemon's one registry: the worker sends its feed series'
totals (`snapshot`), the daemon adds what grew since the last one to its own series of the
same exchange (`MetricsMerge`). Each exchange runs in one worker, so the exchange label
already tells the workers apart."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from arbot.metrics import Metrics

# The Metrics attributes a feed writes (arbot_feed_seconds_since_last_tick is computed by
# the daemon from the ticks it receives).
FEED_METRICS = (
    "ticks_received",
    "ticks_rejected",
    "reconnects",
    "feed_errors",
    "book_updates",
    "book_resyncs",
    "feed_restarts",
    "sequence_gaps",
    "quotes_dropped",
    "feed_up",
    "feed_mode",
    "last_tick",
    "latency",
)

Sample = list[Any]  # [attribute, sample name, labels, value]: JSON on the wire


def snapshot(metrics: Metrics) -> list[Sample]:
    """The worker's feed series as they stand (counter and histogram totals, gauges)."""
    out: list[Sample] = []
    for attr in FEED_METRICS:
        for family in getattr(metrics, attr).collect():
            out += [[attr, s.name, s.labels, s.value] for s in family.samples]
    return out


class MetricsMerge:
    """One worker process's totals: a new one (a restarted worker) starts again from zero."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._seen: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}

    def apply(self, samples: list[Sample]) -> None:
        buckets: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = {}
        for attr, name, labels, value in samples:
            metric = getattr(self._metrics, attr)
            if isinstance(metric, Gauge):
                metric.labels(**labels).set(value)
                continue
            key = (attr, name, tuple(sorted(labels.items())))
            delta = value - self._seen.get(key, 0.0)
            self._seen[key] = value
            if isinstance(metric, Counter):
                if name.endswith("_total") and delta > 0:
                    metric.labels(**labels).inc(delta)
            elif isinstance(metric, Histogram):
                series = {k: v for k, v in labels.items() if k != "le"}
                if name.endswith("_sum") and delta:
                    metric.labels(**series)._sum.inc(delta)
                elif name.endswith("_bucket"):
                    per_series = buckets.setdefault((attr, tuple(sorted(series.items()))), [])
                    per_series.append((float(labels["le"]), delta))
        for (attr, series_key), deltas in buckets.items():
            self._add_buckets(getattr(self._metrics, attr), dict(series_key), deltas)

    @staticmethod
    def _add_buckets(
        metric: Histogram, series: dict[str, str], deltas: list[tuple[float, float]]
    ) -> None:
        """`deltas`: each bucket's growth of its cumulative count; the histogram keeps
        per-bucket counts (prometheus_client has no public way to add to them)."""
        child = metric.labels(**series)
        below = 0.0
        for i, (_, cumulative) in enumerate(sorted(deltas)):
            if cumulative - below > 0:
                child._buckets[i].inc(cumulative - below)
            below = cumulative
