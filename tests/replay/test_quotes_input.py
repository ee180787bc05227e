"""The quote files replay and backtest read: time units, ISO 8601, gzip, Tardis, bad files."""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbot.csv_input import progress_bar
from arbot.errors import ArbotError
from arbot.models import Tick
from arbot.quotes_csv import TARDIS_COLUMNS, unified_symbol
from arbot.recorded_csv import read_items

HEADER = "ts,exchange,symbol,bid,bid_size,ask,ask_size"
TARDIS_HEADER = ",".join(TARDIS_COLUMNS)
FIXTURE = Path(__file__).parents[1] / "data/tardis/binance_btcusdt_quotes_60s.csv.gz"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 1973-03-03 to about 5000 AD: the range where every unit can be told by magnitude.
MICROS = st.integers(min_value=10**14, max_value=95 * 10**15)
TMP = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50, deadline=None
)


class InputError(ArbotError):
    pass


def read(path: Path, *, in_order: bool = False) -> list[Tick]:
    return [
        t for t in read_items(path, InputError, "quotes", in_order=in_order) if isinstance(t, Tick)
    ]


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as err:
        read(path, in_order=True)
    return str(err.value)


def write(path: Path, lines: list[str], *, header: str = HEADER, zipped: bool = False) -> Path:
    data = "\n".join([header, *lines]).encode() + b"\n"
    path.write_bytes(gzip.compress(data) if zipped else data)
    return path


def row(ts: str, exchange: str = "a", bid: float = 99.0) -> str:
    return f"{ts},{exchange},BTC/USDT,{bid},1,100,2"


def as_unit(micros: int, unit: str, sub_micro: int) -> str:
    """`micros` (µs since the epoch) written in `unit`, exactly."""
    whole, frac = divmod(micros, 10**6)
    return {
        "s": f"{whole}.{frac:06d}",
        "ms": f"{micros // 1000}.{micros % 1000:03d}",
        "us": str(micros),
        "ns": f"{micros}{sub_micro:03d}",
    }[unit]


def as_iso(micros: int, style: str, offset_minutes: int) -> str:
    moment = EPOCH + timedelta(microseconds=micros)
    if style == "Z":
        return moment.isoformat().replace("+00:00", "Z")
    if style == "naive":
        return moment.replace(tzinfo=None).isoformat(sep=" ")
    return moment.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()


@TMP
@given(
    st.lists(MICROS, min_size=1, max_size=5),
    st.sampled_from(["s", "ms", "us", "ns"]),
    st.integers(0, 999),
)
def test_epoch_units_are_told_by_magnitude_and_read_exactly(
    tmp_path: Path, times: list[int], unit: str, sub_micro: int
) -> None:
    """The same instants written in s, ms, µs or ns read back as the same floats: the value
    divided by the unit, rounded once."""
    sub = sub_micro if unit == "ns" else 0
    path = write(tmp_path / "q.csv", [row(as_unit(t, unit, sub)) for t in times])
    expected = [(t * 1000 + sub) / 10**9 for t in times]
    assert [(t.timestamp, t.received) for t in read(path)] == [(t, t) for t in expected]


@TMP
@given(
    st.lists(MICROS, min_size=1, max_size=5),
    st.sampled_from(["Z", "naive", "offset"]),
    st.integers(-14 * 60, 14 * 60),
)
def test_iso_times_with_z_offset_or_naive_utc_read_exactly(
    tmp_path: Path, times: list[int], style: str, offset_minutes: int
) -> None:
    """ISO 8601 with Z, with an offset, or naive (read as UTC) gives the epoch instant."""
    path = write(tmp_path / "q.csv", [row(as_iso(t, style, offset_minutes)) for t in times])
    assert [t.timestamp for t in read(path)] == [t / 10**6 for t in times]


def test_iso_digits_past_the_microsecond_are_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", [row("2024-08-08T23:54:13.123456789+00:00")])
    assert read(path)[0].timestamp == 1_723_161_253_123_456 / 10**6


@pytest.mark.parametrize(
    ("first", "later", "message"),
    [
        ("1723161254", "1723161255000", "ts '1723161255000' is not in seconds"),
        ("1723161254000", "1723161255", "ts '1723161255' is not in ms"),
        ("1723161254000000", "1723161255000000000", "is not in µs"),
        ("2024-08-08T23:54:13Z", "1723161255", "neither an epoch number nor an ISO 8601"),
        ("1723161254", "2024-08-08T23:54:13Z", "could not convert"),
        ("1723161254", "nan", "ts must be a finite number"),
        ("nan", "1723161254", "ts must be a finite number"),
    ],
)
def test_a_row_in_another_unit_than_the_first_row_is_an_error_on_its_line(
    tmp_path: Path, first: str, later: str, message: str
) -> None:
    path = write(tmp_path / "q.csv", [row(first), row(first), row(later)])
    line = 2 if first == "nan" else 4
    text = error_of(path)
    assert text.startswith(f"{path}:{line}: bad quote row: ") and message in text


@TMP
@given(st.lists(st.tuples(MICROS, st.sampled_from("ab")), min_size=1, max_size=40))
def test_gzip_is_told_by_magic_bytes_and_reads_like_the_plain_file(
    tmp_path: Path, rows: list[tuple[int, str]]
) -> None:
    """A gzipped file named .csv and a plain file named .gz give the plain file's ticks."""
    lines = [row(as_unit(t, "us", 0), venue) for t, venue in rows]
    plain = read(write(tmp_path / "plain.gz", lines))
    assert read(write(tmp_path / "zipped.csv", lines, zipped=True)) == plain
    assert len(plain) == len(rows)


def test_rows_with_the_same_time_come_out_in_file_order(tmp_path: Path) -> None:
    lines = [row("1723161254", venue, bid) for venue, bid in [("b", 99.5), ("a", 99.0)] * 3]
    ticks = read(write(tmp_path / "q.csv", lines), in_order=True)
    assert [(t.exchange, t.bid) for t in ticks] == [("b", 99.5), ("a", 99.0)] * 3


def test_tardis_quotes_map_columns_symbols_and_received_time(tmp_path: Path) -> None:
    """Tardis columns in any order: timestamp is the exchange's time, local_timestamp the
    received time; sizes come from the amounts; BTCUSDT becomes BTC/USDT."""
    header = "local_timestamp,exchange,symbol,timestamp,bid_amount,bid_price,ask_price,ask_amount"
    lines = [
        "1723161254100000,binance,BTCUSDT,1723161254090000,1.5,61837.63,61837.64,0.25",
        "1723161254200000,okex,ETH-USDT,1723161254000000,3,2700.1,2700.2,",
    ]
    ticks = read(write(tmp_path / "t.csv", lines, header=header), in_order=True)
    assert ticks == [
        Tick("binance", "BTC/USDT", 61837.63, 61837.64, 1.5, 0.25, 1723161254.09, 1723161254.1),
        Tick("okex", "ETH/USDT", 2700.1, 2700.2, 3.0, None, 1723161254.0, 1723161254.2),
    ]


def test_tardis_rows_must_be_in_received_order_not_exchange_time_order(tmp_path: Path) -> None:
    lines = [
        "binance,BTCUSDT,1723161254500000,1723161254100000,1,100,99,1",
        "binance,BTCUSDT,1723161254400000,1723161254200000,1,100,99,1",
        "binance,BTCUSDT,1723161254600000,1723161254150000,1,100,99,1",
    ]
    path = write(tmp_path / "t.csv", lines, header=TARDIS_HEADER)
    assert f"{path}:4: bad quote row: time 1723161254.15 is earlier" in error_of(path)
    assert len(read(path)) == 3


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("BTCUSDT", "BTC/USDT"),
        ("btc-usdt", "BTC/USDT"),
        ("ETH_BTC", "ETH/BTC"),
        ("BNBFDUSD", "BNB/FDUSD"),
        ("BTC-TUSD", "BTC/TUSD"),
        ("ETHUSD", "ETH/USD"),
        ("1000PEPEUSDT", "1000PEPE/USDT"),
        ("BTC/USDT", "BTC/USDT"),
    ],
)
def test_tardis_symbols_with_a_known_quote_asset_are_unified(raw: str, unified: str) -> None:
    assert unified_symbol(raw) == unified


@pytest.mark.parametrize(
    "raw", ["BTC-PERPETUAL", "BTCUSD_PERP", "BTC-USDT-SWAP", "USDT", "", "XBTUSD", "BTCTUSD"]
)
def test_other_tardis_symbols_are_an_error_naming_the_symbol(tmp_path: Path, raw: str) -> None:
    lines = ["binance,BTCUSDT,1723161254000000,1723161254000000,1,100,99,1"] * 2
    lines.append(f"deribit,{raw},1723161254000000,1723161254000000,1,100,99,1")
    path = write(tmp_path / "t.csv", lines, header=TARDIS_HEADER)
    text = error_of(path)
    assert text.startswith(f"{path}:4: bad quote row: ") and f"symbol {raw!r}" in text


def test_real_tardis_fixture_reads_whole_in_received_order() -> None:
    """The recorded Binance spot + USD-M minute: every row, both venues, one symbol."""
    ticks = read(FIXTURE, in_order=True)
    venues = {(t.exchange, t.symbol) for t in ticks}
    assert (len(ticks), venues) == (
        17_942,
        {("binance", "BTC/USDT"), ("binance-futures", "BTC/USDT")},
    )
    assert ticks[0].received == 1_723_161_260.024925 and ticks[-1].received < 1_723_161_320
    spot = next(t for t in ticks if t.exchange == "binance")
    assert spot.timestamp == spot.received  # spot frames carry no exchange time


@TMP
@given(
    st.integers(0, 2999),
    st.sampled_from(["ts", "exchange", "symbol"]),
    st.sampled_from([b"\xff", b"\xc3(", b"\xe2\x82", b"\x80"]),
    st.booleans(),
)
def test_an_undecodable_byte_is_reported_on_its_own_line(
    tmp_path: Path, index: int, field: str, bad: bytes, zipped: bool
) -> None:
    """Far into the file (past any read-ahead chunk), plain or gzipped, the line number is
    the bad byte's line."""
    lines = [row(str(1_723_161_254 + i)).encode() for i in range(3000)]
    ts, exchange, rest = lines[index].split(b",", 2)
    parts = {"ts": [ts + bad, exchange, rest], "exchange": [ts, exchange + bad, rest]}
    lines[index] = b",".join(parts.get(field, [ts, exchange, bad + rest]))
    data = HEADER.encode() + b"\n" + b"\n".join(lines) + b"\n"
    path = tmp_path / "q.csv"
    path.write_bytes(gzip.compress(data) if zipped else data)
    text = error_of(path)
    assert text.startswith(f"{path}:{index + 2}: not UTF-8 text (byte 0x")
    assert "\n" not in text


def _sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickers (ts REAL)")
    conn.close()


def _truncated_gzip(path: Path) -> None:
    lines = [row(str(1_723_161_254 + i)) for i in range(50_000)]
    data = gzip.compress("\n".join([HEADER, *lines]).encode())
    path.write_bytes(data[: len(data) // 2])


BAD_FILES: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing": (lambda p: None, "cannot read quotes: No such file or directory"),
    "directory": (lambda p: p.mkdir(), "cannot read quotes: Is a directory"),
    "empty": (lambda p: p.write_bytes(b""), "cannot read quotes: the file is empty"),
    "empty gzip": (
        lambda p: p.write_bytes(gzip.compress(b"")),
        "cannot read quotes: its gzip data is empty",
    ),
    "sqlite": (_sqlite, "the file is an SQLite database, not a quotes CSV"),
    "binary": (
        lambda p: p.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100)),
        "the file is binary, not a quotes CSV",
    ),
    "utf-16": (lambda p: p.write_text(HEADER, encoding="utf-16"), "UTF-16 text"),
    "zstd": (lambda p: p.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20)), "zstd-compressed"),
    "bad gzip header": (lambda p: p.write_bytes(b"\x1f\x8bxx" + bytes(20)), "gzip data is"),
    "truncated gzip": (_truncated_gzip, "gzip data is truncated or corrupt after line"),
    "blank first line": (lambda p: p.write_text("\n" + HEADER), "no CSV header"),
    "other columns": (lambda p: p.write_text("a,b\n1,2\n"), "lacks column(s) ts, exchange"),
    "short row": (lambda p: write(p, [row("1723161254")[:-6]]), ":2: bad quote row: only 5"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_every_unreadable_file_kind_is_one_line_naming_the_file(tmp_path: Path, kind: str) -> None:
    make, message = BAD_FILES[kind]
    path = tmp_path / "quotes.csv"
    make(path)
    text = error_of(path)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_a_utf8_bom_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(("\ufeff" + HEADER + "\n" + row("1723161254") + "\n\n").encode())
    assert [t.timestamp for t in read(path)] == [1723161254.0]


@pytest.mark.parametrize("zipped", [False, True])
def test_progress_reports_every_byte_of_the_file(tmp_path: Path, zipped: bool) -> None:
    lines = [row(str(1_723_161_254 + i)) for i in range(50_000)]
    path = write(tmp_path / "q.csv", lines, zipped=zipped)
    seen: list[int] = []
    ticks = list(read_items(path, InputError, "quotes", in_order=True, progress=seen.append))
    assert len(ticks) == 50_000 and sum(seen) == path.stat().st_size


def test_progress_bar_is_off_unless_asked_or_on_a_terminal(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", [row("1723161254")])
    with progress_bar(path) as off:  # stderr is captured, so not a terminal
        assert off is None
    with progress_bar(path, enabled=True) as update:
        assert update is not None
        assert len(list(read_items(path, InputError, "q", in_order=True, progress=update))) == 1
