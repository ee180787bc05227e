"""Every Prometheus metric of the daemon, declared once; the registry is injectable."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from arbot.metrics_collectors import BookAges, CountedElsewhere, UnitProcessCollector
from arbot.models import ExchangeParams, Signal
from arbot.records import RECORD_KINDS
from arbot.version import version

# A `_created` series per counter and histogram doubles the series count for a timestamp
# nobody graphs; process_start_time_seconds says when the counters started.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream

# Reasons a tick is rejected (bounded label set; see feeds/validate.py).
REJECT_REASONS = (
    "missing_price",
    "not_finite",
    "non_positive",
    "crossed",
    "negative_size",
    "future_timestamp",
    "stale_timestamp",
    "malformed",
)
WRITE_ERROR_KINDS = ("locked", "disk_full", "io", "auth", "permission", "other")


def top_edge_percent(signal: Signal, params: Mapping[str, ExchangeParams]) -> float | None:
    """The net edge of the signal's top of book in percent (the detector's formula: prices
    brought to world prices by the premium baselines, taker fees on both legs); None when
    an exchange has no parameters."""
    pb, ps = params.get(signal.buy_exchange), params.get(signal.sell_exchange)
    if pb is None or ps is None:
        return None
    cost = signal.buy_price * ((1.0 + pb.taker_fee) / (1.0 + pb.premium_baseline))
    proceeds = signal.sell_price * ((1.0 - ps.taker_fee) / (1.0 + ps.premium_baseline))
    return 100.0 * (proceeds - cost) / cost


class Metrics:
    """Holds the collectors; pass a fresh CollectorRegistry in tests."""

    def __init__(
        self, registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        ex = ["exchange"]
        self.ticks_received = Counter(
            "arbot_ticks_received_total", "Valid ticks received per exchange", ex, registry=r
        )
        self.ticks_rejected = Counter(
            "arbot_ticks_rejected_total",
            "Invalid ticks rejected, by reason",
            ["exchange", "reason"],
            registry=r,
        )
        self.reconnects = Counter(
            "arbot_feed_reconnects_total", "Feed reconnect attempts after a failure", ex, registry=r
        )
        self.feed_errors = Counter(
            "arbot_feed_errors_total", "Feed errors by kind", ["exchange", "kind"], registry=r
        )
        self.book_updates = Counter(
            "arbot_book_updates_total",
            "Order-book changes of the top `depth` levels received (depth > 0)",
            ex,
            registry=r,
        )
        self.book_resyncs = Counter(
            "arbot_book_resyncs_total",
            "Order books ccxt dropped and rebuilt from a fresh snapshot (a sequence gap, a bad "
            "checksum; each also a feed_gaps row)",
            ex,
            registry=r,
        )
        self.book_ages = BookAges(r, clock)
        self.feed_restarts = Counter(
            "arbot_feed_restarts_total",
            "Feeds restarted after an unexpected error (each also a feed outage and gap row)",
            ex,
            registry=r,
        )
        self.sequence_gaps = Counter(
            "arbot_feed_sequence_gaps_total",
            "Breaks in an exchange's own update-id sequence (each also a feed_gaps row)",
            ex,
            registry=r,
        )
        self.quotes_dropped = Counter(
            "arbot_feed_quotes_dropped_total",
            "Quotes received but dropped because the feed's capture buffer was full",
            ex,
            registry=r,
        )
        self.feed_up = Gauge(
            "arbot_feed_up", "1 while the exchange feed delivers data", ex, registry=r
        )
        self.feed_mode = Gauge(
            "arbot_feed_websocket",
            "1 when the feed uses websockets, 0 when REST polling",
            ex,
            registry=r,
        )
        self.last_tick = Gauge(
            "arbot_feed_last_tick_timestamp_seconds",
            "UNIX time of the last valid tick",
            ex,
            registry=r,
        )
        self.seconds_since_tick = Gauge(
            "arbot_feed_seconds_since_last_tick",
            "Seconds since the last valid tick",
            ex,
            registry=r,
        )
        self.latency = Histogram(
            "arbot_feed_latency_seconds",
            "Exchange timestamp to local receive time",
            ex,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.queue_depth = Gauge("arbot_queue_depth", "Items waiting in the tick queue", registry=r)
        self.queue_capacity = Gauge("arbot_queue_capacity", "Bound of the tick queue", registry=r)
        self.batch_rows = Histogram(
            "arbot_batch_rows",
            "Rows per committed batch",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000),
            registry=r,
        )
        self.flush_seconds = Histogram(
            "arbot_flush_duration_seconds",
            "Time to commit one batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.ticks_accepted = Counter(
            "arbot_ticks_accepted_total", "Ticks taken from the queue by the pipeline", registry=r
        )
        self.ticks_committed = Counter(
            "arbot_ticks_committed_total", "Ticks durably committed to the database", registry=r
        )
        self.ticks_skipped = Counter(
            "arbot_ticks_skipped_total",
            "Accepted ticks not stored by conflation or dedup",
            ["reason"],
            registry=r,
        )
        self.ticks_dropped = Counter(
            "arbot_ticks_dropped_total",
            "Accepted ticks not stored, by reason (each covered by a feed_gaps row)",
            ["reason"],
            registry=r,
        )
        self.books_committed = Counter(
            "arbot_books_committed_total",
            "Order books durably committed to the database (depth > 0)",
            registry=r,
        )
        self.books_dropped = Counter(
            "arbot_books_dropped_total",
            "Order books not stored, by reason (each covered by a feed_gaps row)",
            ["reason"],
            registry=r,
        )
        self.storage_backlog = Gauge(
            "arbot_storage_backlog_ticks",
            "Ticks and order books waiting to be committed",
            registry=r,
        )
        self.notifications = Counter(
            "arbot_notifications_total",
            "Notification messages by target, event and result (delivered, failed: given up "
            "after max_age, dropped: queue full, folded: into an 'N more' message)",
            ["target", "event", "result"],
            registry=r,
        )
        self.records_dropped = Counter(
            "arbot_records_dropped_total",
            "Records (signals, episodes, trades, ...) that could not be stored, by kind",
            ["kind"],
            registry=r,
        )
        self.write_errors = Counter(
            "arbot_write_errors_total",
            "Failed batch commits (retried), by kind",
            ["kind"],
            registry=r,
        )
        self.writer_retrying = Gauge(
            "arbot_writer_retrying", "1 while the writer retries a failed batch", registry=r
        )
        self.opportunities_open = Gauge(
            "arbot_opportunities_open", "Arbitrage episodes currently open", registry=r
        )
        self.signals_recorded = Counter(
            "arbot_signals_recorded_total", "arbitrage_signals rows written", registry=r
        )
        self.episodes_closed = Counter(
            "arbot_episodes_closed_total", "Arbitrage episodes closed", registry=r
        )
        self.best_spread = Gauge(
            "arbot_best_net_spread_percent",
            "Best current net spread per symbol, percent",
            ["symbol"],
            registry=r,
        )
        self.signal_edge = Gauge(
            "arbot_signal_edge_percent",
            "Net edge of the last signal of each symbol, buy and sell exchange, percent: "
            'edge="top" at the top of book, edge="executable" of the trade it sizes (q* '
            "through both order books with depth > 0, else the top of book's)",
            ["symbol", "buy", "sell", "edge"],
            registry=r,
        )
        self.paper_trades = CountedElsewhere(
            "arbot_paper_trades",
            "Paper trades since start, by status (created|completed|failed)",
            "status",
            r,
        )
        self.paper_pending = Gauge(
            "arbot_paper_pending_trades", "Paper trades waiting for their fill quotes", registry=r
        )
        self.db_size = Gauge(
            "arbot_database_size_bytes", "Database file size", ["database"], registry=r
        )
        self.wal_size = Gauge(
            "arbot_database_wal_size_bytes", "Database WAL file size", ["database"], registry=r
        )
        self.asyncio_tasks = Gauge(
            "arbot_asyncio_tasks",
            "Live asyncio tasks in the daemon's loop (leak detector)",
            registry=r,
        )
        # Identity and the process itself (RSS, open fds, CPU, start time) in the same
        # registry, so one scrape of /metrics has them.
        self.build_info = Gauge(
            "arbot_build_info", "Always 1; labels say what runs", ["version", "python"], registry=r
        )
        self.build_info.labels(version(), platform.python_version()).set(1)
        # Several shard daemons feed one database: join on this to tell their series apart.
        self.shard_info = Gauge(
            "arbot_shard_info", "Always 1; this daemon's [shard]", ["index", "count"], registry=r
        )
        UnitProcessCollector(registry=r)
        for kind in WRITE_ERROR_KINDS:
            self.write_errors.labels(kind)
        for kind in RECORD_KINDS:
            self.records_dropped.labels(kind)
        self.queue_depth.set(0)
        # Feed worker processes (feeds.workers > 1); their feeds' series are merged into the
        # exchange-labelled ones above.
        self.feed_worker_up = Gauge(
            "arbot_feed_worker_up", "1 while the feed worker process runs", ["worker"], registry=r
        )
        self.feed_worker_restarts = Counter(
            "arbot_feed_worker_restarts_total",
            "Feed worker processes restarted after dying or stalling (each an outage of its "
            "exchanges, with gap rows)",
            ["worker"],
            registry=r,
        )

    def signal_found(self, signal: Signal, params: Mapping[str, ExchangeParams]) -> None:
        """Set arbot_signal_edge_percent of the signal's symbol and exchanges."""
        key = (signal.symbol, signal.buy_exchange, signal.sell_exchange)
        top = top_edge_percent(signal, params)
        if top is not None:
            self.signal_edge.labels(*key, "top").set(top)
        self.signal_edge.labels(*key, "executable").set(signal.profit_percent)

    def init_exchange(self, exchange: str) -> None:
        """Create every per-exchange series up front so dashboards see zeros, not gaps."""
        self.ticks_received.labels(exchange)
        self.reconnects.labels(exchange)
        self.sequence_gaps.labels(exchange)
        self.feed_restarts.labels(exchange)
        self.book_updates.labels(exchange)
        self.book_resyncs.labels(exchange)
        self.quotes_dropped.labels(exchange)
        self.feed_up.labels(exchange).set(0)
        self.latency.labels(exchange)
        for reason in REJECT_REASONS:
            self.ticks_rejected.labels(exchange, reason)
