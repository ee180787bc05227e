"""The registry's naming contract: counters end in _total, no _created twins, identity and
process figures scraped with the rest."""

from __future__ import annotations

import time

from prometheus_client import generate_latest

from arbot.metrics import Metrics
from arbot.version import version


def exposition(metrics: Metrics) -> list[str]:
    return generate_latest(metrics.registry).decode().splitlines()


def test_counters_end_in_total_and_have_no_created_series() -> None:
    metrics = Metrics()
    metrics.init_exchange("binance")
    metrics.ticks_accepted.inc()
    metrics.paper_trades.labels("created").set(2)
    lines = exposition(metrics)
    counters = [
        line.split()[2] for line in lines if line.startswith("# TYPE") and "counter" in line
    ]
    assert counters and all(name.endswith("_total") for name in counters), counters
    assert not [line for line in lines if "_created" in line.split(" ")[0]]


def test_paper_trades_is_a_counter_fed_by_the_executor_totals() -> None:
    metrics = Metrics()
    metrics.paper_trades.labels("completed").set(3)
    metrics.paper_trades.labels("completed").set(5)
    get = metrics.registry.get_sample_value
    assert get("arbot_paper_trades_total", {"status": "completed"}) == 5


def test_build_info_and_process_figures_are_in_the_registry() -> None:
    get = Metrics().registry.get_sample_value
    assert get("arbot_build_info", {"version": version(), "python": _python()}) == 1
    assert (get("process_resident_memory_bytes") or 0) > 1_000_000
    assert (get("process_open_fds") or 0) >= 3
    started = get("process_start_time_seconds") or 0
    assert time.time() - 3600 < started <= time.time() + 1


def _python() -> str:
    import platform

    return platform.python_version()
