"""Recorded Binance BTCUSDT spot and USD-M bookTicker streams, replayed as two zero-fee
venues: the detector finds exactly the episodes and signal instants that a plain
re-computation over the same ticks finds.

USD-M trades below spot (basis about −0.037 %), so it gets that premium_baseline and the
adjusted prices cross both ways a few hundred times in the 6 minutes. Spot frames have no
event time (the receive time is used); USD-M frames carry E (ms), about 1.27 s ahead of the
recorder's clock, so the 1.5 s skew limit bites whenever the spot quote is a little old.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from importlib import resources

import pytest

from arbot.detector import Detector
from arbot.models import Episode, ExchangeParams, Signal, Tick
from tests.detector.helpers import settings

BASELINE = {"spot": 0.0, "usdm": -0.00037}
MIN_PCT = 0.005
MAX_AGE = 0.5
MAX_SKEW = 1.5
STEP = 0.002
COOLDOWN = 5.0

EpisodeRow = tuple[str, str, float, float, str]  # buy, sell, opened, closed, reason
SignalRow = tuple[str, str, float]  # buy, sell, at


@functools.cache
def recorded_ticks() -> tuple[Tick, ...]:
    """Both files merged in receive order (`<recv ns> <combined-stream JSON>` lines)."""
    rows: list[tuple[int, Tick]] = []
    data = resources.files("arbot.localmarket") / "data"
    for venue, name in (("spot", "spot_btcusdt"), ("usdm", "usdm_btcusdt")):
        with gzip.open(str(data / f"{name}_bookticker_20240808.gz"), "rt") as f:
            for line in f:
                ns, raw = line.split(" ", 1)
                d = json.loads(raw)["data"]
                received = int(ns) / 1e9
                ts = d["E"] / 1000 if "E" in d else received
                tick = Tick(
                    venue,
                    "BTC/USDT",
                    float(d["b"]),
                    float(d["a"]),
                    float(d["B"]),
                    float(d["A"]),
                    ts,
                    received,
                )
                rows.append((int(ns), tick))
    rows.sort(key=lambda r: r[0])
    return tuple(t for _, t in rows)


def plain_computation(
    ticks: tuple[Tick, ...], hysteresis: float
) -> tuple[list[EpisodeRow], list[SignalRow], float]:
    """Last quote per venue; after each tick, for both directions: is the pair usable, what
    is its percent edge, open / close / signal by the documented rules. Also returns the
    closest any edge came to the threshold (the comparison is meaningful only if far)."""
    last: dict[str, Tick] = {}
    opened: dict[tuple[str, str], float] = {}
    last_signal: dict[tuple[str, str], tuple[float, float]] = {}
    episodes: list[EpisodeRow] = []
    signals: list[SignalRow] = []
    nearest = float("inf")
    now = 0.0
    for t in ticks:
        last[t.exchange] = t
        now = t.received
        for buy, sell in (("spot", "usdm"), ("usdm", "spot")):
            if buy not in last or sell not in last:
                continue
            b, s = last[buy], last[sell]
            stale = now - b.received > MAX_AGE or now - s.received > MAX_AGE
            skewed = abs(b.timestamp - s.timestamp) > MAX_SKEW
            cost = b.ask / (1 + BASELINE[buy])
            pct = 100 * (s.bid / (1 + BASELINE[sell]) - cost) / cost
            nearest = min(nearest, abs(pct - MIN_PCT), abs(pct - (MIN_PCT - hysteresis)))
            pair = (buy, sell)
            if pair in opened:
                reason = (
                    "stale"
                    if stale
                    else "skew"
                    if skewed
                    else "below_threshold"
                    if pct < MIN_PCT - hysteresis
                    else None
                )
                if reason:
                    episodes.append((buy, sell, opened.pop(pair), now, reason))
                    continue
            elif not stale and not skewed and pct > MIN_PCT:
                opened[pair] = now
                last_signal[pair] = (-1e9, -1e9)
            else:
                continue
            signal_pct, signal_at = last_signal[pair]
            if pct > MIN_PCT and (pct >= signal_pct + STEP or now - signal_at >= COOLDOWN):
                last_signal[pair] = (pct, now)
                signals.append((buy, sell, now))
    episodes += [(b, s, at, now, "shutdown") for (b, s), at in opened.items()]
    return episodes, signals, nearest


@pytest.mark.parametrize("hysteresis", [0.0, 0.003])
def test_detector_matches_plain_computation_on_recorded_streams(hysteresis: float) -> None:
    ticks = recorded_ticks()
    params = {
        v: ExchangeParams(v, True, True, None, BASELINE[v], 0.0, 0.0, 0.0, 1e12) for v in BASELINE
    }
    d = Detector(
        settings(
            min_profit_percent=MIN_PCT,
            hysteresis_percent=hysteresis,
            max_quote_age=MAX_AGE,
            max_leg_skew=MAX_SKEW,
            improve_step_percent=STEP,
            cooldown=COOLDOWN,
        ),
        params,
    )
    outputs: list[Signal | Episode] = []
    for t in ticks:
        outputs += d.on_tick(t, t.received)
    outputs += d.close_all(ticks[-1].received)

    expected_episodes, expected_signals, nearest = plain_computation(ticks, hysteresis)
    assert nearest > 1e-9  # float rounding of the two formulations cannot flip a decision
    got_episodes = [
        (e.buy_exchange, e.sell_exchange, e.opened_at, e.closed_at, e.close_reason)
        for e in outputs
        if isinstance(e, Episode)
    ]
    got_signals = [
        (s.buy_exchange, s.sell_exchange, s.timestamp) for s in outputs if isinstance(s, Signal)
    ]
    assert sorted(got_episodes) == sorted(expected_episodes)
    assert got_signals == expected_signals
    # The recording exercises both directions and every way an episode ends.
    reasons = Counter(e[4] for e in expected_episodes)
    assert {"below_threshold", "skew", "stale"} <= set(reasons)
    assert len({(e[0], e[1]) for e in expected_episodes}) == 2
    assert len(expected_signals) > len(expected_episodes) > 100
