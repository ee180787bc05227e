"""Overload: three venues x 20 symbols at 1,000 quotes/s each, in their own processes, is
more than one core can parse. ccxt's connections then drop behind the backlog (in the
field: aiohttp's ClientConnectionResetError out of the websocket ping loop, which used to
crash the daemon). The daemon must stay up, take the feeds down and up as they fall behind,
and at SIGTERM commit every tick it accepted."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from arbot.localmarket.process import FakeProcess
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import Daemon, metric
from tests.reliability.datadir import integrity
from tests.reliability.scenario import stored_ticks

SECONDS = float(os.environ.get("ARBOT_OVERLOAD_SECONDS", "90"))
RATE = 1000.0
# (name, kind, quote currency). Venues whose stored keys are unique (receive-time stamps),
# so stored rows == committed (OKX stamps quotes itself: equal stamps share a row).
VENUES = (
    ("binance", "binance", "USDT"),
    ("kraken", "kraken", "USD"),
    ("binance2", "binance", "USDT"),
)
SYMBOLS = 20
BACKLOG = 200_000
STOP_GRACE = 60.0


@pytest.mark.slow
@pytest.mark.integration
def test_overload_keeps_the_daemon_up(tmp_path: Path, figures: dict[str, object]) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    with ExitStack() as stack:
        fakes = {
            name: stack.enter_context(FakeProcess(kind, _symbols(quote), RATE))
            for name, kind, quote in VENUES
        }
        exchanges = [
            exchange(name, f.kind, f.url, symbols=f.symbols, watch_timeout=5.0)
            for name, f in fakes.items()
        ]
        # The stop must commit the whole backlog within the grace timeout: bound the backlog
        # to what a writer slowed by the overload (a third of its quiet speed) commits in it.
        doc = daemon_doc(
            data_dir,
            exchanges,
            port,
            storage={"backlog_max_ticks": BACKLOG},
            service={"grace_timeout": STOP_GRACE},
        )
        config = write_config(tmp_path / "arbot.toml", doc)
        with Daemon(config, port) as daemon:
            daemon.wait_metric("arbot_ticks_committed_total", 1, timeout=60)
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                daemon.check_alive()
                time.sleep(1.0)
            samples = daemon.scrape(timeout=30)
            code, seconds = daemon.terminate(STOP_GRACE + 30)
            final = daemon.final_event()
            log = daemon.stderr.text
    figures.update(
        seconds=SECONDS,
        reconnects=metric(samples, "arbot_feed_reconnects_total"),
        restarts=metric(samples, "arbot_feed_restarts_total"),
        capture_dropped=metric(samples, "arbot_feed_quotes_dropped_total"),
        stop_s=round(seconds, 1),
    )
    assert "daemon_crashed" not in log, log[-3000:]
    assert code == 0, f"exit {code}: {final}"
    assert final.get("event") == "daemon_stopped", final
    accepted, committed = final["ticks_accepted"], final["ticks_committed"]
    assert accepted == committed + final["ticks_skipped"] + final["ticks_dropped"], final
    figures.update(accepted=accepted, committed=committed, stored=stored_ticks(data_dir))
    assert figures["stored"] == committed
    assert integrity(data_dir / "arbot.db") == "ok"


def _symbols(quote: str) -> tuple[str, ...]:
    # Synthetic bases as in bench capture: none starting with X/Z (Kraken's legacy prefixes).
    return tuple(f"T{i:02d}/{quote}" for i in range(SYMBOLS))
