"""to_tick turns a unified ccxt ticker into a Tick or names why it cannot."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbot.feeds.validate import MAX_AGE, MAX_FUTURE_SKEW, to_tick
from arbot.metrics import REJECT_REASONS
from arbot.models import Tick

NOW = 1_700_000_000.0


def raw(**overrides: Any) -> dict[str, Any]:
    base = {
        "symbol": "BTC/USDT",
        "bid": 100.0,
        "ask": 100.5,
        "bidVolume": 1.5,
        "askVolume": 2.0,
        "timestamp": int((NOW - 0.2) * 1000),
    }
    base.update(overrides)
    return base


def test_valid_quote_becomes_a_tick_with_seconds() -> None:
    tick = to_tick("ex", raw(), NOW)
    assert tick == Tick("ex", "BTC/USDT", 100.0, 100.5, 1.5, 2.0, NOW - 0.2, NOW)


def test_missing_timestamp_and_sizes_are_allowed() -> None:
    tick = to_tick("ex", raw(timestamp=None, bidVolume=None, askVolume=None), NOW)
    assert isinstance(tick, Tick)
    assert (tick.timestamp, tick.bid_size, tick.ask_size) == (NOW, None, None)


def test_numeric_strings_are_accepted() -> None:
    assert isinstance(to_tick("ex", raw(bid="100.1", ask="100.2"), NOW), Tick)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"bid": None}, "missing_price"),
        ({"ask": None}, "missing_price"),
        ({"bid": math.nan}, "not_finite"),
        ({"ask": math.inf}, "not_finite"),
        ({"bidVolume": math.nan}, "not_finite"),
        ({"bid": 0.0}, "non_positive"),
        ({"bid": -1.0}, "non_positive"),
        ({"ask": 99.0}, "crossed"),
        ({"bidVolume": -0.1}, "negative_size"),
        ({"askVolume": -3.0}, "negative_size"),
        ({"timestamp": (NOW + MAX_FUTURE_SKEW + 1) * 1000}, "future_timestamp"),
        ({"timestamp": (NOW - MAX_AGE - 1) * 1000}, "stale_timestamp"),
        ({"bid": "abc"}, "malformed"),
        ({"symbol": None}, "malformed"),
        ({"timestamp": "soon"}, "malformed"),
    ],
)
def test_each_reject_reason(overrides: dict[str, Any], reason: str) -> None:
    assert to_tick("ex", raw(**overrides), NOW) == reason
    assert reason in REJECT_REASONS


def test_a_dict_without_keys_is_malformed() -> None:
    assert to_tick("ex", {}, NOW) == "malformed"
    assert to_tick("ex", None, NOW) == "malformed"  # type: ignore[arg-type]


def test_locked_book_is_valid() -> None:
    """ask == bid happens on real books for an instant; only ask < bid is crossed."""
    assert isinstance(to_tick("ex", raw(ask=100.0), NOW), Tick)


numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))


@given(bid=numbers, ask=numbers, bid_size=numbers, ask_size=numbers, ts=numbers)
def test_anything_yields_a_sane_tick_or_a_known_reason(
    bid: Any, ask: Any, bid_size: Any, ask_size: Any, ts: Any
) -> None:
    """Whatever an exchange sends, the result is a known reason or a tick that upholds
    every invariant the detector and the database rely on."""
    result = to_tick(
        "ex", raw(bid=bid, ask=ask, bidVolume=bid_size, askVolume=ask_size, timestamp=ts), NOW
    )
    if isinstance(result, str):
        assert result in REJECT_REASONS
        return
    assert 0 < result.bid <= result.ask and math.isfinite(result.ask)
    assert all(
        s is None or (math.isfinite(s) and s >= 0) for s in (result.bid_size, result.ask_size)
    )
    assert NOW - MAX_AGE <= result.timestamp <= NOW + MAX_FUTURE_SKEW
