"""The real daemon with `feeds.workers = 2` against fake exchanges in their own processes
sending numbered quotes (ask size = the quote's number per symbol): every quote stored
exactly once; a worker killed with SIGKILL is an outage of its exchanges alone (a gap row),
restarted; SIGTERM commits every quote the workers captured."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from arbot.localmarket.process import FakeProcess
from tests.helpers import read
from tests.reliability.config import GRACE, daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import Daemon, Samples, metric, wait_until

USDT = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
# Equal symbol counts: worker 0 runs binance and okx, worker 1 runs kraken (by name).
VENUES = {"binance": USDT, "okx": USDT, "kraken": tuple(s.replace("USDT", "USD") for s in USDT)}
RATE = 20

Numbers = dict[tuple[str, str], Counter[int]]


@dataclass
class Run:
    sent: Numbers
    stored: Numbers
    samples: Samples  # the last scrape before the stop
    workers: dict[int, dict[str, object]]  # the first worker_started event of each worker
    restarted: dict[str, object]  # the worker_started event after the kill
    killed_at: float
    gaps: list[tuple[str, float, float, str]]
    stopped: dict[str, int]  # the daemon_stopped event's counts
    code: int


def numbers(data: Path) -> Numbers:
    out: Numbers = {}
    for name, symbol, ask_size in read(data, "SELECT exchange, symbol, ask_size FROM tickers"):
        out.setdefault((str(name), str(symbol)), Counter())[int(ask_size)] += 1  # type: ignore[call-overload]
    return out


def exchanges_stored(data: Path) -> set[str]:
    try:
        return {str(r[0]) for r in read(data, "SELECT DISTINCT exchange FROM tickers")}
    except sqlite3.OperationalError:  # not created yet
        return set()


def latest(data: Path, name: str) -> float:
    rows = read(data, f"SELECT max(timestamp) FROM tickers WHERE exchange = '{name}'")
    return float(rows[0][0] or 0)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("workers")
    data = tmp / "data"
    port = free_port()
    with ExitStack() as stack:
        fakes = {
            kind: stack.enter_context(FakeProcess(kind, symbols, RATE))
            for kind, symbols in VENUES.items()
        }
        entries = [exchange(n, f.kind, f.url, f.symbols, mode="ws") for n, f in fakes.items()]
        doc = daemon_doc(data, entries, port, feeds={"workers": 2})
        daemon = stack.enter_context(Daemon(write_config(tmp / "arbot.toml", doc), port))

        def flowing() -> bool:
            daemon.check_alive()
            return exchanges_stored(data) == set(fakes)

        wait_until(flowing, 90, "ticks from every fake exchange")
        workers = {
            int(e["worker"]): e for e in daemon.stderr.events if e["event"] == "worker_started"
        }
        killed_at = time.time()
        os.kill(int(workers[1]["pid"]), signal.SIGKILL)

        def restarted() -> list[dict[str, object]]:
            daemon.check_alive()
            events = [e for e in daemon.stderr.events if e["event"] == "worker_started"]
            return [e for e in events if e["worker"] == 1 and e["pid"] != workers[1]["pid"]]

        again = wait_until(restarted, 90, "worker 1 restarted")[0]
        wait_until(lambda: latest(data, "kraken") > killed_at + 0.5, 90, "kraken ticks again")
        time.sleep(1.0)
        for fake in fakes.values():
            fake.silence()
        sent: Numbers = {
            (name, symbol): Counter(nums)
            for name, fake in fakes.items()
            for symbol, nums in fake.sent().items()
        }
        time.sleep(1.0)  # captured by the workers; SIGTERM must commit them, nothing waits
        samples = daemon.scrape()
        code, _ = daemon.terminate(GRACE + 10)
        stopped = [e for e in daemon.stderr.events if e["event"] == "daemon_stopped"]
    gaps = [
        (str(a), float(b), float(c), str(d))  # type: ignore[arg-type]
        for a, b, c, d in read(data, 'SELECT exchange, start, "end", reason FROM feed_gaps')
    ]
    return Run(sent, numbers(data), samples, workers, again, killed_at, gaps, stopped[-1], code)


def test_every_numbered_quote_is_stored_exactly(run: Run) -> None:
    """binance and okx, whose worker never died, stored every quote sent, once: also those
    sent while worker 1 was down and those still in flight at SIGTERM."""
    assert run.code == 0
    for name in ("binance", "okx"):
        for symbol in VENUES[name]:
            assert run.stored[name, symbol] == run.sent[name, symbol], (name, symbol)
    assert sum(sum(c.values()) for c in run.sent.values()) >= 3 * 3 * RATE


def test_a_killed_worker_is_an_outage_of_its_exchanges_with_a_gap_row(run: Run) -> None:
    """Worker 1 (kraken) killed: restarted and counted; kraken's outage is one gap row
    spanning the kill; the others have none; what kraken stored was sent, once."""
    assert run.workers[1]["exchanges"] == ["kraken"]
    assert run.restarted["exchanges"] == ["kraken"]
    assert metric(run.samples, "arbot_feed_worker_restarts_total", worker="1") == 1
    assert metric(run.samples, "arbot_feed_worker_restarts_total", worker="0") == 0
    assert metric(run.samples, "arbot_feed_worker_up", worker="1") == 1
    kraken = [g for g in run.gaps if g[0] == "kraken"]
    assert len(kraken) == 1
    assert kraken[0][1] < run.killed_at < kraken[0][2]
    assert not [g for g in run.gaps if g[0] != "kraken"]
    for symbol in VENUES["kraken"]:
        assert not run.stored["kraken", symbol] - run.sent["kraken", symbol]
        assert max(run.stored["kraken", symbol].values()) == 1


def test_accepted_equals_committed_plus_counted(run: Run) -> None:
    """Every tick the daemon took from its workers was committed or counted, and the
    workers' counters reached the daemon's registry by exchange."""
    s = run.stopped
    assert s["ticks_accepted"] == s["ticks_committed"] + s["ticks_skipped"] + s["ticks_dropped"]
    stored = sum(sum(c.values()) for c in run.stored.values())
    assert s["ticks_committed"] == stored
    for name in VENUES:
        assert metric(run.samples, "arbot_ticks_received_total", exchange=name) > 0
        assert metric(run.samples, "arbot_feed_quotes_dropped_total", exchange=name) == 0
