"""Price sources: reproducible synthetic prices with offsets, and replay of the captures."""

from __future__ import annotations

import math
import time

import pytest

from arbot.localmarket import Faults, Quote, RandomWalk, Replay
from arbot.localmarket.quotes import unified_symbol


def test_same_seed_agrees_at_the_same_instant_and_offset_shifts_prices() -> None:
    """Two venues with one seed quote the same mid at the same moment, however many quotes
    each has sent before; the offset moves prices by exactly that fraction."""
    a = RandomWalk(symbols=("BTC/USDT",), seed=7, noise_bps=0.0)
    b = RandomWalk(symbols=("BTC/USDT",), seed=7, noise_bps=0.0, offset=0.01)
    for t in range(30):
        a.step("BTC/USDT", 1000.0 + t)
    qa, qb = a.step("BTC/USDT", 2000.5), b.step("BTC/USDT", 2000.5)
    assert qa.bid is not None and qb.bid is not None and qa.ask is not None
    assert qb.bid == pytest.approx(qa.bid * 1.01)
    assert 0 < qa.bid < qa.ask
    assert a.mid("BTC/USDT", 0.0) != a.mid("BTC/USDT", 300.0)  # prices do move


def test_dislocations_come_and_go() -> None:
    prices = RandomWalk(
        symbols=("ETH/USDT",),
        seed=1,
        noise_bps=0.0,
        swing_bps=0.0,
        dislocation_every=10.0,
        dislocation_size=0.01,
        dislocation_length=2.0,
    )
    inside = prices.step("ETH/USDT", 1001.0)
    outside = prices.step("ETH/USDT", 1005.0)
    assert inside.bid is not None and outside.bid is not None
    assert inside.bid == pytest.approx(outside.bid * 1.01)


async def test_replay_yields_captured_quotes_with_present_event_times() -> None:
    """USD-M frames carry event times, moved to now; spot frames carry none."""
    usdm = Replay.venue("usdm", speed=1000.0)
    spot = Replay.venue("spot", speed=1000.0)
    assert set(usdm.symbols) == set(spot.symbols) == {"BTC/USDT", "ETH/USDT"}
    got: list[Quote] = []
    async for q in usdm.quotes():
        got.append(q)
        if len(got) == 20:
            break
    async for q in spot.quotes():
        spot_quote = q
        break
    assert all(q.ts is not None and abs(q.ts - time.time()) < 5 for q in got)
    assert all(q.bid is not None and q.ask is not None and q.bid <= q.ask for q in got)
    assert spot_quote.ts is None


def test_unified_symbol() -> None:
    assert unified_symbol("BTCUSDT") == "BTC/USDT"
    with pytest.raises(ValueError, match="XYZ"):
        unified_symbol("XYZ")


def test_fault_switches_from_text() -> None:
    f = Faults()
    f.set("silent", "1")
    f.set("quote", "nan")
    f.set("timestamp_offset", "-30")
    f.set("ws_reject", "503")
    assert (f.silent, f.quote, f.timestamp_offset, f.ws_reject) == (True, "nan", -30.0, 503)
    q = f.apply(Quote("BTC/USDT", 1.0, 2.0, 1.0, 1.0, 100.0))
    assert q.bid is not None and math.isnan(q.bid) and q.ts == 70.0
    f.set("silent", "off")
    assert not f.silent
    with pytest.raises(ValueError, match="bogus"):
        f.set("quote", "bogus")
    f.clear()
    assert f == Faults()
