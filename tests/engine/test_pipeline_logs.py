"""The daemon's journal shows the work: an info line when an opportunity opens and closes."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.pipeline import Pipeline
from arbot.sink import StorageSink
from arbot.storage.sqlite.writer import Writer
from arbot.tick_queue import TickQueue

from ..pipeline.helpers import run_pipeline
from .helpers import params, settings

T0 = 1_760_000_000.0


async def test_opportunities_are_logged_once_when_they_open_and_close(data_dir: Path) -> None:
    s = settings(data_dir)
    metrics = Metrics()
    writer = Writer.open(s.storage, metrics)
    engine = Engine(s, params(s), writer.resume_state(), paper=False)
    pipeline = Pipeline(engine, StorageSink(writer, s.storage, metrics), metrics)
    queue = TickQueue(100_000)
    for i, up in enumerate((0.5, 0.6, 0.7, 0.0)):  # opens, improves twice, closes
        t = T0 + i
        queue.put_nowait(Tick("okx", "BTC/USDT", 99.99, 100.0, 1.0, 1.0, t, t))
        queue.put_nowait(Tick("binance", "BTC/USDT", 100 + up, 100.01 + up, 1.0, 1.0, t, t))
    queue.close()
    with capture_logs() as logged:
        await run_pipeline(pipeline, queue, lambda: T0 + 3)
    opened = [e for e in logged if e["event"] == "opportunity_opened"]
    closed = [e for e in logged if e["event"] == "opportunity_closed"]
    assert [(e["buy"], e["sell"], e["log_level"]) for e in opened] == [("okx", "binance", "info")]
    assert [(e["reason"], e["log_level"]) for e in closed] == [("below_threshold", "info")]
