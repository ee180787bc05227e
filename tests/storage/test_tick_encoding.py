"""Prices and sizes are stored as INTEGER 1e-8 units when exact (arbot_002.sql) and read
back bit-exact, whichever path wrote them."""

from __future__ import annotations

import itertools
import math
import sqlite3
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import insert_ticks_sql

positive = st.floats(min_value=1e-12, max_value=1e15, allow_nan=False, allow_infinity=False)
# Quotes as exchanges send them: decimal strings with up to 8 fractional digits.
decimal_quote = st.builds(
    lambda units, digits: float(f"{units / 10**digits:.{digits}f}"),
    st.integers(1, 10**14),
    st.integers(0, 8),
)
size = st.one_of(st.none(), st.just(0.0), positive, decimal_quote)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    c = open_database(tmp_path_factory.mktemp("enc"), "arbot")
    c.execute("INSERT INTO symbols (id, name) VALUES (1, 'X/USDT')")
    c.execute("INSERT INTO exchanges (id, name) VALUES (1, 'ex')")
    return c


Quote = tuple[float, float, float | None, float | None]


def stored(
    conn: sqlite3.Connection, values: list[Quote]
) -> tuple[list[tuple[object, ...]], list[Quote]]:
    conn.execute("DELETE FROM ticks")
    rows = [(1, 1, *v, float(i), i + 0.005) for i, v in enumerate(values)]  # ids of ex, X/USDT
    conn.execute(insert_ticks_sql(len(rows)), list(itertools.chain.from_iterable(rows)))
    raw = conn.execute("SELECT bid, ask, bid_size, ask_size FROM ticks ORDER BY ts").fetchall()
    view = conn.execute("SELECT bid, ask, bid_size, ask_size FROM tickers ORDER BY timestamp")
    return raw, view.fetchall()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(positive, decimal_quote), st.one_of(positive, decimal_quote), size, size
        ),
        min_size=1,
        max_size=20,
    )
)
def test_every_value_reads_back_bit_exact(conn: sqlite3.Connection, values: list[Quote]) -> None:
    raw, view = stored(conn, values)
    assert view == values
    for got, want in zip(itertools.chain(*view), itertools.chain(*values), strict=True):
        if got is None or want is None:
            assert got is None and want is None
        else:
            assert math.copysign(1, got) == math.copysign(1, want)
    for stored_row, row in zip(raw, values, strict=True):
        for value, original in zip(stored_row, row, strict=True):
            if isinstance(value, int):
                assert value / 1e8 == original  # the decoding the views do


@settings(max_examples=200, deadline=None)
@given(decimal_quote, decimal_quote)
@example(42660616.7, 42660616.7)  # x·1e8 is a tie, which SQLite's round() takes upwards
def test_decimal_quotes_are_stored_as_integers(
    conn: sqlite3.Connection, bid: float, bid_size: float
) -> None:
    """A quote with at most 8 decimals whose 1e-8 count is below 2**53 (every count up to
    there is a double) takes the compact INTEGER form; above, only exactness is promised."""
    raw, _ = stored(conn, [(bid, bid, bid_size, None)])
    for value, original in zip(raw[0][:3], (bid, bid, bid_size), strict=True):
        if original * 1e8 < 2**53:
            assert type(value) is int
    assert raw[0][3] is None


def test_spec_inserts_through_the_view_are_encoded_too(data_dir: Path) -> None:
    conn = open_database(data_dir, "arbot")
    conn.execute(
        "INSERT INTO tickers (symbol, exchange, bid, ask, bid_size, ask_size, timestamp)"
        " VALUES ('BTC/USDT', 'okx', 65000.1, 65000.2, 0.123, NULL, 5)"
    )
    assert conn.execute("SELECT bid, ask, bid_size, ask_size FROM ticks").fetchone() == (
        6500010000000,
        6500020000000,
        12300000,
        None,
    )
    assert conn.execute("SELECT bid, ask, bid_size, ask_size FROM tickers").fetchone() == (
        65000.1,
        65000.2,
        0.123,
        None,
    )
    conn.close()
