"""Properties of paper trading over random signal and quote sequences: balances never go
negative, base asset is conserved, quote changes by exactly the booked profits, and the
same inputs give the same trades."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arbot.settings import PaperSettings
from tests.paper.helpers import Harness, signal, tick

EXCHANGES = ("okx", "binance", "kraken")
START = {ex: {"USDT": 300.0, "BTC": 2.0} for ex in EXCHANGES}

_price = st.floats(min_value=99.0, max_value=101.0)
_size = st.floats(min_value=0.05, max_value=3.0)
_signal = st.tuples(
    st.just("signal"),
    st.sampled_from(EXCHANGES),
    st.sampled_from(EXCHANGES),
    _price,
    st.floats(min_value=0.0, max_value=2.0),
    _size,
)
_tick = st.tuples(
    st.just("tick"),
    st.sampled_from(EXCHANGES),
    _price,
    st.floats(min_value=0.0, max_value=0.5),
    _size,
)
_event = st.one_of(_signal, _tick, _tick, _tick)  # quotes three times as likely as signals
_events = st.lists(
    st.tuples(st.sampled_from([0.0, 0.05, 0.1, 0.3]), _event), min_size=5, max_size=80
)


def _replay(events: list[tuple[float, tuple[Any, ...]]]) -> Harness:
    h = Harness(
        PaperSettings(enabled=True, latency_ms=100, max_fill_wait=2.0, balances=START),
        EXCHANGES,
        min_amount=1.0,
    )
    now = 0.0
    for gap, ev in events:
        now += gap
        if ev[0] == "signal":
            _, buy, sell, ask, edge, size = ev
            if buy != sell and size > 0:
                h.signal(
                    signal(
                        ask=ask,
                        bid=ask + edge,
                        size=size,
                        ts=now,
                        buy_exchange=buy,
                        sell_exchange=sell,
                    ),
                    now,
                )
        else:
            _, ex, bid, spread, size = ev
            h.tick(tick(ex, bid, bid + spread, ts=now, size=size))
        for row in h.executor.balances.rows():
            assert row.free >= 0 and row.locked >= 0, row
    h.executor.expire_all(now + 10.0, "end")
    return h


@settings(max_examples=150, deadline=None)
@given(events=_events)
def test_balances_stay_non_negative_and_conserve_value(
    events: list[tuple[float, tuple[Any, ...]]],
) -> None:
    h = _replay(events)
    b = h.executor.balances
    rows = b.rows()
    assert all(r.locked == 0 for r in rows)  # nothing pending after expire_all
    total_btc = math.fsum(b.free(ex, "BTC") for ex in EXCHANGES)
    total_usdt = math.fsum(b.free(ex, "USDT") for ex in EXCHANGES)
    profit = h.conn.execute(
        "SELECT coalesce(sum(actual_profit), 0) FROM trades WHERE status = 'completed'"
    ).fetchone()[0]
    assert math.isclose(total_btc, 6.0, abs_tol=1e-9)
    assert math.isclose(total_usdt, 900.0 + profit, abs_tol=1e-7)
    assert h.executor.pending() == 0


@settings(max_examples=30, deadline=None)
@given(events=_events)
def test_same_inputs_give_identical_trades(events: list[tuple[float, tuple[Any, ...]]]) -> None:
    first = [tuple(r) for r in _replay(events).trades()]
    second = [tuple(r) for r in _replay(events).trades()]
    assert first == second
