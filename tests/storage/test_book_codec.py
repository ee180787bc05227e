"""The packed levels of a book row (storage/books.py): any levels read back bit-exact, a
delta applied to the book it changes gives back the new book, values are the 1e-8 counts
ticks use, and a realistic change takes a few bytes."""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from arbot.models import Level
from arbot.storage.book_rows import _changes
from arbot.storage.books import DELTA, SNAPSHOT, anchors, apply, pack, units, unpack
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import insert_ticks_sql

# Decimal quotes as exchanges send them (at most 8 fractional digits), and any float.
decimal_value = st.builds(
    lambda n, digits: float(f"{n / 10**digits:.{digits}f}"),
    st.integers(-(10**14), 10**14),
    st.integers(0, 8),
)
any_value = st.floats(allow_nan=False, allow_infinity=False)
value = st.one_of(decimal_value, any_value)
levels = st.lists(st.tuples(value, value), max_size=25)


@settings(max_examples=400)
@given(levels, levels, st.tuples(st.integers(0, 10**15), st.integers(0, 10**15)))
@example([(0.1, 0.2)], [(1e-9, 3.0)], (0, 0))  # off the grid: raw doubles
@example([(2.0, -1.0)], [(-3.0, 1.0)], (0, 0))  # negative
@example([(65000.12, 0.5), (64999.5, 0.00001)], [], (6_500_000_000_000, 0))
def test_any_levels_read_back_exactly(
    bids: list[Level], asks: list[Level], anchor: tuple[int, int]
) -> None:
    got_bids, got_asks = unpack(pack(bids, asks, anchor), anchor)
    assert got_bids == bids and got_asks == asks
    assert [tuple(map(float.hex, lv)) for lv in got_bids] == [
        tuple(map(float.hex, map(float, lv))) for lv in bids
    ]


def changes(old: tuple[Level, ...], new: tuple[Level, ...], descending: bool) -> list[Level] | None:
    found = _changes(old, None, new, descending=descending)
    return None if found is None else found[0]


def _side(prices: list[int], amounts: list[int], descending: bool) -> tuple[Level, ...]:
    unique = sorted(set(prices), reverse=descending)
    return tuple((p / 1e8, a / 1e8) for p, a in zip(unique, amounts, strict=False))


grid_side = st.tuples(
    st.lists(st.integers(1, 10**12), max_size=20), st.lists(st.integers(1, 10**10), min_size=20)
)


@settings(max_examples=400)
@given(grid_side, grid_side, grid_side, grid_side)
def test_a_delta_applied_gives_back_the_new_book(
    old_b: tuple[list[int], list[int]],
    old_a: tuple[list[int], list[int]],
    new_b: tuple[list[int], list[int]],
    new_a: tuple[list[int], list[int]],
) -> None:
    old = _side(*old_b, True), _side(*old_a, False)
    new = _side(*new_b, True), _side(*new_a, False)
    bids, asks = (
        changes(old[0], new[0], True),
        changes(old[1], new[1], False),
    )
    assert bids is not None and asks is not None
    blob = pack(bids, asks, anchors(*old))
    assert apply(*old, DELTA, blob) == new
    assert apply((), (), SNAPSHOT, pack(*new, (0, 0))) == new


def test_no_delta_for_a_book_it_could_not_rebuild() -> None:
    old = ((100.0, 1.0), (99.0, 1.0))
    assert changes(old, ((99.0, 1.0), (100.0, 1.0)), True) is None  # not best first
    assert changes(old, ((100.0, 1.0), (100.0, 2.0)), True) is None  # repeated
    assert changes(old, ((100.0, 0.0), (99.0, 1.0)), True) is None  # amount 0
    assert changes(old, ((float("nan"), 1.0),), True) is None
    assert changes(old, old, True) == []
    assert changes(old, ((100.0, 2.0),), True) == [(100.0, 2.0), (99.0, 0.0)]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    c = open_database(tmp_path_factory.mktemp("enc"), "arbot")
    c.execute("INSERT INTO symbols (id, name) VALUES (1, 'X/USDT')")
    c.execute("INSERT INTO exchanges (id, name) VALUES (1, 'ex')")
    return c


@settings(max_examples=300)
@given(st.lists(st.one_of(decimal_value, any_value.filter(lambda v: abs(v) < 1e15)), min_size=1))
@example([67108864.97746813, 0.5, -2.5e-8, 1e-8])  # beyond 2^52 counts; ties; the smallest
def test_units_are_the_counts_ticks_store(conn: sqlite3.Connection, values: list[float]) -> None:
    """Where the tick writer stores an INTEGER count of 1e-8, `units` gives that count;
    where it keeps the REAL, `units` gives None."""
    conn.execute("DELETE FROM ticks")
    rows = [(1, 1, v, v, None, None, float(i), float(i)) for i, v in enumerate(values)]
    conn.execute(insert_ticks_sql(len(rows)), list(itertools.chain.from_iterable(rows)))
    for (stored,), value in zip(
        conn.execute("SELECT bid FROM ticks ORDER BY ts"), values, strict=True
    ):
        m = units(value)
        if isinstance(stored, int):
            assert m == stored and m / 1e8 == value
        else:
            assert m is None


def test_a_realistic_change_takes_a_few_bytes() -> None:
    """BTC-like: 0.01 tick, 1e-5 lot, 20 levels a side; the best amounts change, a level
    goes and a deeper one comes into the top 20."""
    bids = tuple((round(65000.12 - 0.01 * k, 2), round(0.5 + 0.01731 * k, 5)) for k in range(20))
    asks = tuple((round(65000.13 + 0.01 * k, 2), round(0.7 + 0.02113 * k, 5)) for k in range(20))
    new_bids = ((65000.12, 0.61234), *bids[1:4], *bids[5:], (64999.9, 0.2))
    new_asks = ((65000.13, 0.00125), *asks[1:])
    bid_changes, ask_changes = changes(bids, new_bids, True), changes(asks, new_asks, False)
    assert bid_changes is not None and ask_changes is not None
    delta = pack(bid_changes, ask_changes, anchors(bids, asks))
    snapshot = pack(bids, asks, (0, 0))
    assert len(delta) <= 20
    assert len(snapshot) <= 4 * 40 + 12
    assert apply(bids, asks, DELTA, delta) == (new_bids, new_asks)
