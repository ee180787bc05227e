"""Sent versus stored, exactly: fake exchanges in their own processes send numbered quotes
(ask size = the quote's number per symbol) at a fixed rate to the real daemon, and
arbot.db must hold every number each fake reports sent, or the daemon must have counted
every one it is missing. One daemon run serves both rates (their fakes send at once)."""

from __future__ import annotations

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

USDT = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT")
USD = tuple(s.replace("USDT", "USD") for s in USDT)
VENUES = {"binance": USDT, "okx": USDT, "kraken": USD}
RATES = (20, 200)
SECONDS = 3.0

Numbers = dict[tuple[str, str], Counter[int]]


@dataclass
class Outcome:
    sent: Numbers
    stored: Numbers
    counted: float  # quotes the daemon counted as missed (dropped or rejected)


def missed(samples: Samples, names: list[str]) -> float:
    return sum(
        metric(samples, m, exchange=name)
        for m in ("arbot_feed_quotes_dropped_total", "arbot_ticks_rejected_total")
        for name in names
    )


def stored_count(data: Path) -> int:
    try:
        return int(str(read(data, "SELECT count(*) FROM tickers")[0][0]))
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Outcome]:
    tmp = tmp_path_factory.mktemp("capture")
    data = tmp / "data"
    port = free_port()
    with ExitStack() as stack:
        fakes = {
            f"{kind}-{rate}": stack.enter_context(FakeProcess(kind, symbols, rate))
            for rate in RATES
            for kind, symbols in VENUES.items()
        }
        entries = [exchange(n, f.kind, f.url, f.symbols, mode="ws") for n, f in fakes.items()]
        config = write_config(tmp / "arbot.toml", daemon_doc(data, entries, port))
        daemon = stack.enter_context(Daemon(config, port))

        def flowing() -> bool:
            daemon.check_alive()
            try:
                return len(read(data, "SELECT DISTINCT exchange FROM tickers")) == len(fakes)
            except sqlite3.OperationalError:  # not created yet
                return False

        wait_until(flowing, 60, "ticks from every fake exchange")
        time.sleep(SECONDS)
        for fake in fakes.values():
            fake.silence()
        sent: Numbers = {
            (name, symbol): Counter(numbers)
            for name, fake in fakes.items()
            for symbol, numbers in fake.sent().items()
        }
        total = sum(sum(c.values()) for c in sent.values())
        wait_until(
            lambda: stored_count(data) + missed(daemon.scrape(), list(fakes)) >= total,
            30,
            f"{total} quotes stored or counted as missed",
        )
        samples = daemon.scrape()
        code, _ = daemon.terminate(GRACE)
        assert code == 0, daemon.tail()
    stored: Numbers = {}
    for name, symbol, ask_size in read(data, "SELECT exchange, symbol, ask_size FROM tickers"):
        stored.setdefault((str(name), str(symbol)), Counter())[int(ask_size)] += 1  # type: ignore[call-overload]

    def outcome(rate: int) -> Outcome:
        names = [n for n in fakes if n.endswith(f"-{rate}")]
        return Outcome(
            {k: c for k, c in sent.items() if k[0] in names},
            {k: c for k, c in stored.items() if k[0] in names},
            missed(samples, names),
        )

    return {rate: outcome(rate) for rate in RATES}


def test_every_quote_sent_at_20_per_second_is_stored(outcomes: dict[int, Outcome]) -> None:
    """20 quotes/s per symbol × 5 symbols × 3 exchanges: the stored numbers are exactly
    the sent numbers, per exchange and symbol, and nothing was counted as missed."""
    run = outcomes[20]
    assert sum(sum(c.values()) for c in run.sent.values()) >= 3 * 5 * 20 * SECONDS * 0.9
    assert run.stored == run.sent
    assert run.counted == 0


def test_at_200_per_second_every_quote_is_stored_or_counted(
    outcomes: dict[int, Outcome],
) -> None:
    """200 quotes/s per symbol: every stored number was sent, once; each sent number not
    stored was counted (dropped or rejected)."""
    run = outcomes[200]
    assert sum(sum(c.values()) for c in run.sent.values()) >= 3 * 5 * 200 * SECONDS * 0.5
    missing = sum((run.sent[k] - run.stored.get(k, Counter()) for k in run.sent), Counter())
    extra = sum((run.stored[k] - run.sent.get(k, Counter()) for k in run.stored), Counter())
    assert not extra
    assert sum(missing.values()) == run.counted
