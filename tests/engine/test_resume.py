"""State across restarts: paper balances and open episodes continue from arbot.db."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from arbot.engine import Engine
from arbot.metrics import Metrics
from arbot.models import Episode, Tick
from arbot.records import SignalFound
from arbot.settings import Settings
from arbot.storage.sqlite.writer import Writer

from .helpers import params, settings

T0 = 1_760_000_000.0


def cross(t: float, up: float = 0.5) -> list[Tick]:
    return [
        Tick("okx", "BTC/USDT", 99.99, 100.0, 1.0, 1.0, t, t),
        Tick("binance", "BTC/USDT", 100.0 + up, 100.01 + up, 1.0, 1.0, t, t),
    ]


async def run_daemon_engine(s: Settings, instants: list[list[Tick]]) -> Engine:
    """One daemon run: resume from arbot.db, process each instant at its own time, stop
    keeping open episodes."""
    writer = Writer.open(s.storage, Metrics())
    try:
        engine = Engine(s, params(s), writer.resume_state(), paper=True)
        for ticks in instants:
            out = engine.process(ticks, ticks[0].timestamp)
            writer.add(out.ticks, out.records)
        end = engine.finish(engine.now, "daemon stopped", keep_open=True)
        writer.add(end.ticks, end.records)
        await writer.flush()
    finally:
        await writer.close()
    return engine


async def test_open_episode_and_balances_resume(data_dir: Path) -> None:
    s = settings(data_dir)
    first = await run_daemon_engine(s, [cross(T0), cross(T0 + 1.0)])
    assert first.detector is not None and first.paper is not None
    (state,) = first.detector.open_state()
    balances = {(r.exchange, r.asset): r.free + r.locked for r in first.paper.balances.rows()}
    assert balances[("okx", "BTC")] > 2.0  # a trade completed: the run moved money

    second = await run_daemon_engine(s, [cross(T0 + 3.0, up=0.6)])
    assert second.detector is not None and second.paper is not None
    (resumed,) = second.detector.open_state()
    assert (resumed.key, resumed.opened_at) == (state.key, state.opened_at)
    assert resumed.updates == state.updates + 1
    assert resumed.peak_profit_percent > state.peak_profit_percent
    # Ids continue: the second run's signal follows the first run's.
    conn = sqlite3.connect(data_dir / "arbot.db")
    ids = [r[0] for r in conn.execute("SELECT id FROM arbitrage_signals ORDER BY id")]
    episodes = conn.execute("SELECT count(*) FROM signal_episodes").fetchone()[0]
    conn.close()
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 2
    assert episodes == 0  # never closed: no "shutdown" episode was written
    # The second run started from the first run's last snapshot, not from the config.
    conn = sqlite3.connect(data_dir / "arbot.db")
    first_of_second = conn.execute(
        "SELECT free_balance + locked_balance FROM balances WHERE exchange = 'okx' "
        "AND asset = 'BTC' AND timestamp >= ? ORDER BY timestamp LIMIT 1",
        (T0 + 3.0,),
    ).fetchone()
    conn.close()
    assert first_of_second is not None
    assert first_of_second[0] >= balances[("okx", "BTC")] > 2.0


async def test_an_episode_whose_legs_stay_quiet_closes_as_stale(data_dir: Path) -> None:
    s = settings(data_dir)
    await run_daemon_engine(s, [cross(T0)])
    writer = Writer.open(s.storage, Metrics())
    try:
        engine = Engine(s, params(s), writer.resume_state(), paper=False)
        # Another symbol ticks: the resumed BTC episode waits max_quote_age, then closes.
        other = [Tick("okx", "ETH/USDT", 10.0, 10.01, 1.0, 1.0, t, t) for t in (T0 + 30, T0 + 40)]
        records = [r for t in other for r in engine.process([t]).records]
    finally:
        await writer.close()
    closed = [r for r in records if isinstance(r, Episode)]
    assert [e.close_reason for e in closed] == ["stale"]
    assert closed[0].closed_at == T0 + 40
    assert not [r for r in records if isinstance(r, SignalFound)]
