"""One tick sequence through the daemon's path (queue -> pipeline -> sink -> writer, on a
fake clock, with arbot.db locked for a while), through `replay` and through `backtest`:
identical signals, episodes and trades."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from arbot.backtest import run_backtest
from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.pipeline import Pipeline
from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.settings import Settings
from arbot.sink import StorageSink
from arbot.storage.backtests import run_trades
from arbot.storage.schema import init_all
from arbot.storage.sqlite.writer import Writer
from arbot.tick_queue import TickQueue

from ..helpers import wait_until
from .helpers import params, settings, table_rows, write_csv

T0 = 1_760_000_000.0
LOCKED = range(8, 20)  # instants processed while another connection holds arbot.db


def sequence() -> list[list[Tick]]:
    """Instants of three venues and two symbols: same-timestamp groups, a venue quoting
    three times in one millisecond, crosses that open, improve and close, a leg that goes
    stale (kraken stops for 8 s), and a quiet end that closes everything."""
    groups: list[list[Tick]] = []
    for i in range(40):
        t = T0 + i * 0.5
        up = 0.3 if 6 <= i < 16 or 24 <= i < 30 else 0.0
        g = [
            Tick("binance", "BTC/USDT", 100.0 + up, 100.02 + up, 2.0, 2.0, t, t),
            Tick("okx", "BTC/USDT", 99.98, 100.0, 1.5, 1.5, t, t),
            Tick("okx", "ETH/USDT", 10.0, 10.01, 20.0, 20.0, t, t),
        ]
        if not 20 <= i < 36:  # kraken goes quiet: its episodes close as stale
            g.append(Tick("kraken", "ETH/USDT", 10.05 + up / 10, 10.06 + up / 10, 5.0, 5.0, t, t))
        if i % 7 == 3:  # three different quotes of one venue in one millisecond
            g += [Tick("okx", "BTC/USDT", 99.97 - k * 0.01, 100.0, 1.0, 1.0, t, t) for k in (1, 2)]
        groups.append(g)
    end = T0 + 60.0
    groups.append([Tick("okx", "ETH/USDT", 10.0, 10.01, 20.0, 20.0, end, end)])
    return groups


def accepted(engine: Engine, n: int) -> Callable[[], bool]:
    return lambda: engine.accepted >= n


async def through_daemon_path(s: Settings, groups: list[list[Tick]]) -> None:
    init_all(s.storage.data_dir)
    metrics = Metrics()
    writer = Writer.open(s.storage, metrics)
    engine = Engine(s, params(s), writer.resume_state(), paper=True)
    sink = StorageSink(writer, s.storage, metrics)
    now = [T0]
    pipeline = Pipeline(engine, sink, metrics)
    queue = TickQueue(1000)
    consumer = asyncio.create_task(pipeline.run(queue, lambda: now[0]))
    committer = asyncio.create_task(sink.run())
    lock = sqlite3.connect(s.storage.data_dir / "arbot.db", isolation_level=None)
    signals_before_lock = 0
    try:
        sent = 0
        for i, group in enumerate(groups):
            if i == LOCKED.start:
                lock.execute("BEGIN EXCLUSIVE")
                signals_before_lock = engine.signals
            if i == LOCKED.stop:
                # Detection went on while nothing could be written.
                assert engine.signals > signals_before_lock
                assert sink.backlog > 0
                lock.execute("COMMIT")
            now[0] = max(t.received for t in group)
            for tick in group:
                queue.put_nowait(tick)
            sent += len(group)
            await wait_until(accepted(engine, sent))
        queue.close()
        await consumer
        await sink.close()
        await committer
    finally:
        lock.close()
        await writer.close()


def rows_of(data_dir: Path) -> tuple[dict[str, list[tuple[object, ...]]], object]:
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        return table_rows(conn), run_trades(conn)[1]
    finally:
        conn.close()


async def test_daemon_replay_and_backtest_agree(tmp_path: Path) -> None:
    groups = sequence()
    flat = [t for g in groups for t in g]
    fast = {"busy_timeout_ms": 0, "retry_max_seconds": 0.05, "linger_ms": 5}
    daemon = settings(tmp_path / "daemon", **fast)
    await through_daemon_path(daemon, groups)
    daemon_rows, daemon_trades = rows_of(tmp_path / "daemon")

    csv = write_csv(tmp_path / "q.csv", flat)
    replayed = settings(tmp_path / "replay")
    summary = await replay(open_quote_file(csv), replayed, params(replayed))
    replay_rows, replay_trades = rows_of(tmp_path / "replay")

    result = await run_backtest(settings(), open_quote_file(csv).ticks(), params(settings()))

    assert daemon_rows["signals"], "the sequence must produce signals"
    assert {r[6] for r in daemon_rows["episodes"]} >= {"stale", "below_threshold"}
    assert any(r[6] == "completed" for r in daemon_rows["trades"])
    assert daemon_rows == replay_rows
    assert daemon_trades == replay_trades == result.trade_rows
    assert summary.signals == result.signals == len(daemon_rows["signals"])
    assert len(summary.episodes) == result.episodes == len(daemon_rows["episodes"])
    # The daemon kept nothing open: the quiet end closed every episode in all three.
    conn = sqlite3.connect(tmp_path / "daemon" / "arbot.db")
    assert conn.execute("SELECT count(*) FROM open_episodes").fetchone() == (0,)
    conn.close()
