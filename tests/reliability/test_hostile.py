"""Scenario 7: hostile exchanges. Each fault switch of the fakes in turn, then several at
once, against one running daemon: the healthy exchanges keep flowing, the faulty one
recovers when the fault ends, bad ticks are counted by reason and never stored, and no
arbitrage signal rests on a bad, stale or skewed quote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, Samples, metric
from tests.reliability.datadir import integrity
from tests.reliability.fakes import FakeMarket
from tests.reliability.scenario import (
    invalid_stored,
    write_daemon_config,
)
from tests.reliability.signals_check import check_signals

VENUES = ("binance:binance", "okx:okx", "kraken:kraken", "rest:rest")
NAMES = tuple(v.split(":")[0] for v in VENUES)
# Not a load test: a moderate rate keeps ms-stamped venues from repeating a timestamp.
RATE = 200.0
FAULT_SECONDS = 3.0
RECOVERY_TIMEOUT = 45.0  # backoff cap is 60 x poll_interval (12 s) plus the websocket probe
MAX_QUOTE_AGE = 5.0
MAX_LEG_SKEW = 2.0
ERRORS = ("arbot_feed_errors_total", "")
REJECTED = ("arbot_ticks_rejected_total", "")


@dataclass(frozen=True)
class Fault:
    name: str
    switches: tuple[tuple[str, str, str], ...]  # (venue, switch, value)
    expect: tuple[tuple[str, str], ...]  # (metric, reason or kind) of which one must grow
    drops: tuple[str, ...] = ()  # venues whose websockets are dropped every second

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([v for v, _, _ in self.switches] + list(self.drops)))


def rejected(reason: str) -> tuple[tuple[str, str], ...]:
    return (("arbot_ticks_rejected_total", reason),)


FAULTS = (
    Fault("connection_drops", (), (("arbot_feed_reconnects_total", ""),), drops=("binance",)),
    Fault(
        "handshake_503_retry_after",
        (("binance", "ws_reject", "503"), ("binance", "retry_after", "2")),
        (ERRORS,),
        drops=("binance",),
    ),
    Fault("silence", (("okx", "silent", "on"),), (("arbot_feed_errors_total", "timeout"),)),
    Fault(
        "http_429", (("rest", "http_status", "429"),), (("arbot_feed_errors_total", "rate_limit"),)
    ),
    Fault(
        "http_418", (("rest", "http_status", "418"),), (("arbot_feed_errors_total", "rate_limit"),)
    ),
    Fault("http_500", (("rest", "http_status", "500"),), (ERRORS,)),
    Fault(
        "http_503_retry_after",
        (("rest", "http_status", "503"), ("rest", "retry_after", "1")),
        (ERRORS,),
    ),
    Fault("html_body", (("rest", "html", "on"),), (ERRORS, REJECTED)),
    Fault("malformed_json_ws", (("binance", "malformed", "on"),), (ERRORS, REJECTED)),
    Fault("malformed_json_rest", (("rest", "malformed", "on"),), (ERRORS, REJECTED)),
    Fault("crossed", (("binance", "quote", "crossed"),), rejected("crossed")),
    Fault("nan", (("binance", "quote", "nan"),), rejected("not_finite")),
    Fault("negative_price", (("binance", "quote", "negative"),), rejected("non_positive")),
    Fault("negative_size", (("binance", "quote", "negative_size"),), rejected("negative_size")),
    Fault("missing_price", (("binance", "quote", "missing"),), rejected("missing_price")),
    Fault("future_timestamp", (("okx", "timestamp_offset", "60"),), rejected("future_timestamp")),
    Fault("past_timestamp", (("okx", "timestamp_offset", "-600"),), rejected("stale_timestamp")),
    # Within the validation window: stored, but the detector must not pair it (leg skew).
    Fault(
        "clock_skew", (("okx", "timestamp_offset", "-30"),), (("arbot_ticks_received_total", ""),)
    ),
    Fault(
        "all_at_once",
        (
            ("binance", "quote", "crossed"),
            ("binance", "ws_reject", "503"),
            ("okx", "silent", "on"),
            ("okx", "timestamp_offset", "60"),
            ("rest", "http_status", "429"),
            ("rest", "retry_after", "1"),
        ),
        (ERRORS, REJECTED),
        drops=("binance",),
    ),
)


@dataclass
class Hostile:
    fakes: FakeMarket
    daemon: Daemon
    data_dir: Path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    tmp = tmp_path_factory.mktemp("hostile")
    data_dir = tmp / "data"
    with FakeMarket(VENUES, RATE, dislocate=("kraken",)) as fakes:
        config, port = write_daemon_config(
            tmp,
            data_dir,
            fakes,
            detector={"max_quote_age": MAX_QUOTE_AGE, "max_leg_skew": MAX_LEG_SKEW},
        )
        with Daemon(config, port) as daemon:
            for name in NAMES:
                daemon.wait_metric("arbot_ticks_received_total", 1, timeout=60, exchange=name)
            yield Hostile(fakes, daemon, data_dir)


def received(samples: Samples, venue: str) -> float:
    return metric(samples, "arbot_ticks_received_total", exchange=venue)


def grew(before: Samples, after: Samples, name: str, label: str, venue: str) -> float:
    key = "reason" if name == "arbot_ticks_rejected_total" else "kind"
    labels = {"exchange": venue, **({key: label} if label else {})}
    return metric(after, name, **labels) - metric(before, name, **labels)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_hostile_exchange(hostile: Hostile, fault: Fault, figures: dict[str, object]) -> None:
    """During the fault the healthy venues flow and the fault is counted; after it the
    faulty venue delivers ticks again."""
    fakes, daemon = hostile.fakes, hostile.daemon
    healthy = [n for n in NAMES if n not in fault.venues]
    before = daemon.scrape()
    for venue, switch, value in fault.switches:
        fakes.fault(venue, switch, value)
    try:
        deadline = time.monotonic() + FAULT_SECONDS
        while time.monotonic() < deadline:
            for venue in fault.drops:
                fakes.drop(venue)
            time.sleep(1.0)
        during = daemon.scrape()
    finally:
        for venue in fault.venues:
            fakes.clear(venue)
    cleared = time.monotonic()
    for venue in fault.venues:
        daemon.wait_metric(
            "arbot_ticks_received_total",
            received(daemon.scrape(), venue) + 5,
            timeout=RECOVERY_TIMEOUT,
            exchange=venue,
        )
    errors = {
        f"{venue}:errors": ",".join(
            f"{dict(labels)['kind']}={int(v - metric(before, n, **dict(labels)))}"
            for (n, labels), v in during.items()
            if n == "arbot_feed_errors_total"
            and dict(labels).get("exchange") == venue
            and v > metric(before, n, **dict(labels))
        )
        for venue in fault.venues
    }
    counted = {
        f"{venue}:{label or name.removeprefix('arbot_')}": grew(before, during, name, label, venue)
        for venue in fault.venues
        for name, label in fault.expect
    }
    figures.update(
        faulty=",".join(fault.venues),
        recovered_s=round(time.monotonic() - cleared, 1),
        healthy_ticks=int(sum(received(during, v) - received(before, v) for v in healthy)),
        **{k: int(v) for k, v in counted.items()},
        **errors,
    )
    for venue in healthy:
        assert received(during, venue) > received(before, venue), f"{venue} stopped flowing"
    for venue in fault.venues:
        assert any(grew(before, during, name, label, venue) > 0 for name, label in fault.expect), (
            f"{fault.name} on {venue} was not counted ({fault.expect})"
        )


@pytest.mark.slow
@pytest.mark.integration
def test_hostile_nothing_bad_stored_or_signalled(
    hostile: Hostile, figures: dict[str, object]
) -> None:
    """After all the faults: no invalid tick stored, every signal on fresh valid legs."""
    samples = hostile.daemon.scrape()
    code, _ = hostile.daemon.terminate(GRACE + 5)
    final = hostile.daemon.final_event()
    db = hostile.data_dir / "arbot.db"
    check = check_signals(db, MAX_QUOTE_AGE, MAX_LEG_SKEW)
    figures.update(
        rejected=int(metric(samples, "arbot_ticks_rejected_total")),
        invalid_stored=invalid_stored(hostile.data_dir),
        signals_checked=check.checked,
        unverified_legs=check.unverified_legs,
        signals_bad=len(check.bad),
    )
    assert code == 0
    assert final["ticks_accepted"] == final["ticks_committed"]
    assert figures["invalid_stored"] == 0
    assert check.checked > 0, "the dislocated venue produced no signal to check"
    assert not check.bad, check.bad[:5]
    assert integrity(db) == "ok"
