"""Time-range reads of `ticks` (per symbol through the key) against plain Python."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.storage.dbops_data import EXCHANGES, SYMBOLS, TickRow, insert_ticks

from arbot.storage.schema import open_database
from arbot.storage.sqlite.ticks import count_ticks, first_tick_time, ticks_in_time_order

# Few distinct times, so timestamps repeat across symbols and exchanges (the ordering ties).
rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from(EXCHANGES),
        st.integers(0, 40).map(float),
        st.floats(1, 1000, allow_nan=False),
        st.floats(1, 1000, allow_nan=False),
    ),
    max_size=60,
    unique_by=lambda r: (r[0], r[1], r[2]),
)
bounds = st.tuples(st.integers(-5, 45).map(float), st.integers(-5, 45).map(float))


def fresh(tmp: Path, rows: list[TickRow]) -> sqlite3.Connection:
    conn = open_database(tmp, "arbot")
    conn.execute("DELETE FROM ticks")
    insert_ticks(conn, rows)
    return conn


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, window=bounds)
def test_reads_match_a_plain_filter_and_sort(
    tmp_path_factory: pytest.TempPathFactory, rows: list[TickRow], window: tuple[float, float]
) -> None:
    start, end = window
    tmp = tmp_path_factory.mktemp("ticks")
    conn = fresh(tmp, rows)
    inside = [r for r in rows if start <= r[2] < end]
    assert count_ticks(conn, start, end) == len(inside)
    assert count_ticks(conn, start) == sum(1 for r in rows if r[2] >= start)
    later = [r[2] for r in rows if r[2] >= start]
    assert first_tick_time(conn, start) == (min(later) if later else None)
    assert first_tick_time(conn) == (min(r[2] for r in rows) if rows else None)
    got = [
        (t.timestamp, t.exchange, t.symbol, t.bid, t.ask)
        for t in ticks_in_time_order(conn, start, end)
    ]
    want = sorted((r[2], r[1], r[0], r[3], r[4]) for r in inside)
    assert got == want
    conn.close()


def test_an_empty_table_has_no_first_time(data_dir: Path) -> None:
    conn = open_database(data_dir, "arbot")
    assert first_tick_time(conn) is None
    assert count_ticks(conn, -math.inf) == 0
    assert list(ticks_in_time_order(conn, -math.inf, math.inf)) == []
    conn.close()
