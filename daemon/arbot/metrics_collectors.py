"""Prometheus collectors of our own: totals kept by other objects, book ages computed at
scrape time, and process_* metrics that work under the shipped unit's ProcSubset=pid."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from arbot.models import Book


class UnitProcessCollector(ProcessCollector):
    """process_* metrics under the shipped unit: ProcSubset=pid hides /proc/stat, where the
    stock collector reads the boot time (without it, it reports nothing at all)."""

    def _boot_time(self) -> float:
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


class CountedElsewhere(Collector):
    """A counter whose totals are kept by another object (the paper executor counts its own
    trades): `labels(...).set(total)` publishes the total, exposed as NAME_total."""

    def __init__(self, name: str, documentation: str, label: str, registry: CollectorRegistry):
        self._name, self._doc, self._label = name, documentation, label
        self._totals: dict[str, float] = {}
        registry.register(self)

    def labels(self, value: str) -> _Total:
        return _Total(self._totals, value)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._doc, labels=[self._label])
        for value, total in sorted(self._totals.items()):
            family.add_metric([value], total)
        yield family


class _Total:
    def __init__(self, totals: dict[str, float], key: str) -> None:
        self._totals, self._key = totals, key

    def set(self, total: float) -> None:
        self._totals[self._key] = total


class BookAges(Collector):
    """arbot_book_age_seconds{exchange,symbol}: seconds since the receive time of the last
    order book the engine took of each exchange and symbol (depth > 0), at scrape time, so
    a book that stopped coming ages between scrapes."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._received: dict[tuple[str, str], float] = {}
        registry.register(self)

    def seen(self, books: Iterable[Book]) -> None:
        received = self._received
        for book in books:
            received[(book.exchange, book.symbol)] = book.received

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "arbot_book_age_seconds",
            "Seconds since the last order book of the exchange and symbol reached the engine",
            labels=["exchange", "symbol"],
        )
        now = self._clock()
        for (exchange, symbol), received in sorted(self._received.items()):
            family.add_metric([exchange, symbol], max(0.0, now - received))
        yield family
