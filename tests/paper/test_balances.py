"""Simulated balances: locks, debits and credits never drive an amount below zero."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbot.balances import Balances, InsufficientFunds, split_symbol


def test_lock_moves_free_to_locked_and_release_restores_it() -> None:
    """A lock takes the amount out of free; releasing it puts exactly that amount back."""
    b = Balances({"binance": {"USDT": 100.0}})
    b.lock(1, "binance", "USDT", 30.0)
    assert (b.free("binance", "USDT"), b.locked("binance", "USDT")) == (70.0, 30.0)
    assert b.release(1, "binance", "USDT") == 30.0
    assert (b.free("binance", "USDT"), b.locked("binance", "USDT")) == (100.0, 0.0)


def test_lock_and_debit_beyond_free_raise_naming_exchange_and_asset() -> None:
    """An amount larger than free is refused with the exchange and asset in the message."""
    b = Balances({"okx": {"BTC": 1.0}})
    with pytest.raises(InsufficientFunds, match="okx has 1 BTC free, needs 2"):
        b.lock(1, "okx", "BTC", 2.0)
    with pytest.raises(InsufficientFunds, match="okx"):
        b.debit("okx", "ETH", 0.1)
    assert b.free("okx", "BTC") == 1.0


def test_rows_list_every_asset_ever_held_sorted() -> None:
    """Snapshots include assets credited later (bought base) next to the starting ones."""
    b = Balances({"okx": {"USDT": 10.0}, "binance": {"BTC": 1.0}})
    b.credit("okx", "BTC", 0.5)
    assert [(r.exchange, r.asset, r.free) for r in b.rows()] == [
        ("binance", "BTC", 1.0),
        ("okx", "BTC", 0.5),
        ("okx", "USDT", 10.0),
    ]


def test_negative_starting_amount_is_rejected_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"paper\.balances\.okx\.USDT"):
        Balances({"okx": {"USDT": -1.0}})


def test_split_symbol_handles_spot_and_derivatives() -> None:
    assert split_symbol("BTC/USDT") == ("BTC", "USDT")
    assert split_symbol("BTC/USDT:USDT") == ("BTC", "USDT")
    with pytest.raises(ValueError, match="BTCUSDT"):
        split_symbol("BTCUSDT")


_amounts = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
_ops = st.lists(
    st.tuples(
        st.sampled_from(["lock", "release", "debit", "credit"]),
        st.integers(0, 5),
        st.sampled_from(["a", "b"]),
        _amounts,
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(start=_amounts, ops=_ops)
def test_random_operation_sequences_never_go_negative(
    start: float, ops: list[tuple[str, int, str, float]]
) -> None:
    """Whatever the order of locks, releases, debits and credits, free and locked stay >= 0
    and free + locked equals start + credits - debits (refused operations change nothing)."""
    b = Balances({"ex": {"a": start, "b": start}})
    expected = {"a": start, "b": start}
    for op, lock_id, asset, amount in ops:
        try:
            if op == "lock":
                b.lock(lock_id, "ex", asset, amount)
            elif op == "release":
                b.release(lock_id, "ex", asset)
            elif op == "debit":
                b.debit("ex", asset, amount)
                expected[asset] -= amount
            else:
                b.credit("ex", asset, amount)
                expected[asset] += amount
        except (InsufficientFunds, ValueError):
            pass
        for a in ("a", "b"):
            assert b.free("ex", a) >= 0
            assert b.locked("ex", a) >= 0
    for a in ("a", "b"):
        total = b.free("ex", a) + b.locked("ex", a)
        assert math.isclose(total, expected[a], rel_tol=1e-9, abs_tol=1e-6)
