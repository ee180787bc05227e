"""stdev (sample) and median SQL aggregates agree with Python's statistics module."""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbot.storage import functions

# Prices, sizes and spreads: magnitudes from 1e-12 to 1e9 (squares of smaller numbers underflow
# in any float algorithm; statistics computes exactly with fractions).
magnitudes = st.floats(min_value=1e-12, max_value=1e9) | st.just(0.0)
values = st.lists(
    st.one_of(
        st.builds(lambda m, negative: -m if negative else m, magnitudes, st.booleans()),
        st.integers(-(10**6), 10**6),
    ),
    max_size=60,
)


@pytest.fixture(scope="module")
def conn() -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(":memory:")
    functions.register(c)
    c.execute("CREATE TABLE v (x REAL)")
    yield c
    c.close()


def aggregate(conn: sqlite3.Connection, xs: list[float | None]) -> tuple[float | None, ...]:
    conn.execute("DELETE FROM v")
    conn.executemany("INSERT INTO v VALUES (?)", [(x,) for x in xs])
    return tuple(conn.execute("SELECT stdev(x), median(x) FROM v").fetchone())


@given(xs=values)
def test_stdev_is_the_sample_standard_deviation(conn: sqlite3.Connection, xs: list[float]) -> None:
    got = aggregate(conn, [float(x) for x in xs])[0]
    if len(xs) < 2:
        assert got is None
        return
    want = statistics.stdev(xs)
    # Welford's update is stable; its error is bounded by the values' magnitude.
    scale = max(abs(x) for x in xs)
    assert got == pytest.approx(want, rel=1e-9, abs=len(xs) * 1e-13 * scale)


@given(xs=values)
def test_median_is_exact(conn: sqlite3.Connection, xs: list[float]) -> None:
    got = aggregate(conn, [float(x) for x in xs])[1]
    assert got == (statistics.median(xs) if xs else None)


@given(xs=values, nulls=st.integers(0, 5))
def test_nulls_are_ignored(conn: sqlite3.Connection, xs: list[float], nulls: int) -> None:
    """Like SQL's own aggregates, NULL values do not count."""
    with_nulls: list[float | None] = [*[float(x) for x in xs], *[None] * nulls]
    assert aggregate(conn, with_nulls) == aggregate(conn, [float(x) for x in xs])


def test_known_values(conn: sqlite3.Connection) -> None:
    stdev, median = aggregate(conn, [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert stdev == pytest.approx(math.sqrt(32 / 7))
    assert median == 4.5


def test_grouped_use(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT column1, stdev(column2), median(column2) FROM "
        "(VALUES (1, 1.0), (1, 3.0), (2, 5.0)) GROUP BY column1 ORDER BY column1"
    ).fetchall()
    assert rows == [(1, pytest.approx(math.sqrt(2)), 2.0), (2, None, 5.0)]
