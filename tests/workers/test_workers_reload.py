"""A reload of the real daemon with `feeds.workers = 2` (SIGHUP, as `systemctl reload`):
an exchange added goes to the worker with the fewest symbols, which alone restarts; the
untouched worker keeps its process and stores every numbered quote, with no gap."""

from __future__ import annotations

import signal
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from arbot.localmarket.process import FakeProcess
from tests.helpers import read
from tests.reliability.config import GRACE, daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import Daemon, wait_until
from tests.workers.test_workers_daemon import RATE, VENUES, exchanges_stored, numbers

ADDED = "binance-b"  # a second venue on the binance fake's protocol


def test_a_reload_restarts_only_the_worker_whose_share_changed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    config = tmp_path / "arbot.toml"
    with ExitStack() as stack:
        fakes = {
            kind: stack.enter_context(FakeProcess(kind, symbols, RATE))
            for kind, symbols in VENUES.items()
        }
        fakes[ADDED] = stack.enter_context(FakeProcess("binance", ("ADA/USDT",), RATE, seed=1))
        entries = {n: exchange(n, f.kind, f.url, f.symbols, mode="ws") for n, f in fakes.items()}
        first = [e for n, e in entries.items() if n != ADDED]
        write_config(config, daemon_doc(data, first, port, feeds={"workers": 2}))
        daemon = stack.enter_context(Daemon(config, port))

        def flowing() -> bool:
            daemon.check_alive()
            return exchanges_stored(data) == set(VENUES)

        wait_until(flowing, 90, "ticks from every fake exchange")

        def started() -> list[dict[str, object]]:
            return [e for e in daemon.stderr.events if e["event"] == "worker_started"]

        before = {int(e["worker"]): e for e in started()}  # type: ignore[call-overload]
        write_config(config, daemon_doc(data, list(entries.values()), port, feeds={"workers": 2}))
        daemon.proc.send_signal(signal.SIGHUP)

        def added() -> bool:
            daemon.check_alive()
            return ADDED in exchanges_stored(data)

        wait_until(added, 90, f"ticks from {ADDED} after the reload")
        after = started()[len(before) :]
        for fake in fakes.values():
            fake.silence()
        sent = {
            (name, symbol): Counter(nums)
            for name, fake in fakes.items()
            for symbol, nums in fake.sent().items()
        }
        code, _ = daemon.terminate(GRACE + 10)
    assert code == 0
    # Worker 0 (binance, okx: 6 symbols) kept its process; worker 1 (kraken, 3) took the
    # new exchange and restarted with both.
    assert [(e["worker"], e["exchanges"]) for e in after] == [(1, ["kraken", ADDED])]
    assert before[0]["exchanges"] == ["binance", "okx"]
    stored = numbers(data)
    for name in ("binance", "okx"):
        for symbol in VENUES[name]:
            assert stored[name, symbol] == sent[name, symbol], (name, symbol)
    gaps = {str(r[0]) for r in read(data, "SELECT exchange FROM feed_gaps")}
    assert not gaps & {"binance", "okx"}
