"""Operators see the order books: each book's age, and each signal's edge at the top of
book beside the executable edge through the books."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.pipeline import Pipeline
from arbot.sink import StorageSink
from arbot.storage.sqlite.writer import Writer
from arbot.tick_queue import TickQueue
from tests.engine.helpers import params, settings
from tests.paper.helpers import signal
from tests.pipeline.helpers import run_pipeline
from tests.service.test_artifacts import METRIC, ROOT, exported_names

T0 = 1_760_000_000.0
FEE = 0.0005
PAIR = {"symbol": "BTC/USDT", "buy": "okx", "sell": "binance"}


def top_edge(ask: float, bid: float) -> float:
    cost, proceeds = ask * (1 + FEE), bid * (1 - FEE)
    return 100 * (proceeds - cost) / cost


def test_a_books_age_grows_between_books_at_scrape_time() -> None:
    now = [T0 + 2.0]
    metrics = Metrics(clock=lambda: now[0])
    metrics.book_ages.seen([Book("okx", "BTC/USDT", ((1.0, 1.0),), ((2.0, 1.0),), T0, T0)])
    get = metrics.registry.get_sample_value
    labels = {"exchange": "okx", "symbol": "BTC/USDT"}
    assert get("arbot_book_age_seconds", labels) == 2.0
    now[0] = T0 + 7.5
    assert get("arbot_book_age_seconds", labels) == 7.5
    metrics.book_ages.seen([Book("okx", "BTC/USDT", ((1.0, 1.0),), ((2.0, 1.0),), T0, T0 + 7)])
    assert get("arbot_book_age_seconds", labels) == 0.5


def test_a_top_of_book_signal_has_one_edge_for_both() -> None:
    """Without books the signal's profit_percent is its top of book's edge: both series
    agree (fees netted as in the detector)."""
    s = settings(fee=FEE)
    metrics = Metrics()
    top = top_edge(100.0, 100.6)
    metrics.signal_found(signal(ask=100.0, bid=100.6, profit_percent=top), params(s))
    get = metrics.registry.get_sample_value
    assert get("arbot_signal_edge_percent", {**PAIR, "edge": "top"}) == pytest.approx(top)
    assert get("arbot_signal_edge_percent", {**PAIR, "edge": "executable"}) == top


async def test_the_daemon_reports_the_executable_edge_below_the_top_and_book_ages(
    data_dir: Path,
) -> None:
    """okx asks 0.5 @ 100 then 5 @ 100.3, binance bids 0.5 @ 100.6 then 5 @ 100.5: the top
    of book earns 0.4995 %, the trade through the books (q* = 5.5: 551.5 USDT paid, 552.8
    received, before fees) 0.1355 %; both go to the signal's series, and each book's age
    to arbot_book_age_seconds."""
    s = settings(data_dir, fee=FEE)
    metrics = Metrics(clock=lambda: T0 + 4.0)
    writer = Writer.open(s.storage, metrics)
    engine = Engine(s, params(s), writer.resume_state(), paper=False)
    pipeline = Pipeline(engine, StorageSink(writer, s.storage, metrics), metrics)
    queue = TickQueue(1000)
    okx = Book("okx", "BTC/USDT", ((99.9, 5.0),), ((100.0, 0.5), (100.3, 5.0)), T0, T0)
    binance = Book("binance", "BTC/USDT", ((100.6, 0.5), (100.5, 5.0)), ((100.7, 5.0),), T0, T0)
    for b in (okx, binance):
        (bid, bid_size), (ask, ask_size) = b.bids[0], b.asks[0]
        queue.put_nowait(Tick(b.exchange, b.symbol, bid, ask, bid_size, ask_size, T0, T0))
        queue.put_nowait(b)
    queue.close()
    await run_pipeline(pipeline, queue, lambda: T0 + 4.0)
    get = metrics.registry.get_sample_value
    top = get("arbot_signal_edge_percent", {**PAIR, "edge": "top"})
    executable = get("arbot_signal_edge_percent", {**PAIR, "edge": "executable"})
    assert top == pytest.approx(top_edge(100.0, 100.6))
    cost, proceeds = 551.5 * (1 + FEE), 552.8 * (1 - FEE)
    assert executable == pytest.approx(100 * (proceeds - cost) / cost)
    for exchange in ("okx", "binance"):
        age = get("arbot_book_age_seconds", {"exchange": exchange, "symbol": "BTC/USDT"})
        assert age == 4.0


def test_the_dashboard_graphs_both_edges_and_the_books_with_exported_names() -> None:
    dashboard = json.loads((ROOT / "config/grafana/arbot.json").read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    exprs = [t["expr"] for t in panels["Executable vs top-of-book edge"]["targets"]]
    assert exprs == [
        'arbot_signal_edge_percent{edge="top"}',
        'arbot_signal_edge_percent{edge="executable"}',
    ]
    books = {
        name
        for t in panels["Order books: updates, resyncs, age"]["targets"]
        for name in METRIC.findall(t["expr"])
    }
    assert books == {
        "arbot_book_updates_total",
        "arbot_book_resyncs_total",
        "arbot_book_age_seconds",
    }
    assert books | {"arbot_signal_edge_percent"} <= exported_names()
