"""The quote files read by `arbot replay` and `arbot backtest`.

Two layouts, told apart by the header (extra columns are ignored):
- arbot: `ts,exchange,symbol,bid,bid_size,ask,ask_size`; unified symbols (BTC/USDT); empty
  sizes mean unknown depth; the received time is `ts`.
- Tardis `quotes`: `exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,
  bid_price,bid_amount`; `timestamp` is the exchange's time, `local_timestamp` the received
  time. Exchange names are kept; a symbol whose quote asset is one of QUOTE_ASSETS is
  unified (BTCUSDT, BTC-USDT, btc_usdt -> BTC/USDT, also for futures venues; the longest
  known suffix wins), others (BTC-PERPETUAL, BTCUSD_PERP, and XBTUSD: USD or TUSD?) are an
  error.

Times are epoch numbers or ISO 8601, each time column's kind and unit fixed by the file's
first row: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
nanoseconds (each unit then covers 1973 to 5138; a later row outside its unit's range is an
error). ISO 8601 takes `Z` or an offset, naive means UTC; digits past the microsecond are
dropped. Plain or gzip (told by its magic bytes, not the name), UTF-8 with or without a BOM.
Rows come out in file order. Errors name the file, and the line of the first bad row:
skipping rows would silently change what the detector sees.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tqdm import tqdm

from arbot.errors import ArbotError
from arbot.models import Tick

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

ARBOT_COLUMNS = ("ts", "exchange", "symbol", "bid", "bid_size", "ask", "ask_size")
TARDIS_COLUMNS = (
    *("exchange", "symbol", "timestamp", "local_timestamp"),
    *("ask_amount", "ask_price", "bid_price", "bid_amount"),
)
QUOTE_ASSETS = frozenset(
    {"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "TRY", "BRL", "JPY"}
    | {"BTC", "ETH", "BNB"}
)
# A number's unit by its magnitude: (upper bound, scale to seconds, name).
UNITS = ((1e11, 1, "seconds"), (1e14, 10**3, "ms"), (1e17, 10**6, "µs"), (math.inf, 10**9, "ns"))
SCALED_RANGE = (1e8, 1e11)  # 1973 to 5138, in seconds: where every sub-second unit is valid
ISO = 0
BUFFER_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
NOT_CSV = (
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed (only gzip is read)"),
    (b"\xfd7zXZ\x00", "xz-compressed (only gzip is read)"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
)

Progress = Callable[[int], object]


def read_quotes(
    path: Path,
    error: type[ArbotError],
    what: str,
    *,
    in_order: bool,
    progress: Progress | None = None,
) -> Iterator[Tick]:
    """Ticks of `path` in file order, raising `error` (`what` names the file's role in the
    "cannot read" message); with `in_order` a row received earlier than the one before is
    an error. `progress(n)` is called as n more bytes of the file (compressed) are read."""
    with _open(path, error, what, progress) as binary:
        # Decoding line by line (not in chunks) makes a bad byte fail on its own line.
        rows = csv.reader(map(bytes.decode, binary))
        row: list[str] = []
        try:
            parse = row_parser(next(rows, []))
            previous = -math.inf
            for row in rows:
                if not row:
                    continue
                tick = parse(row)
                if in_order and tick.received < previous:
                    raise ValueError(f"time {tick.received} is earlier than the previous row's")
                previous = tick.received
                yield tick
        except UnicodeDecodeError as exc:
            byte = f"byte {exc.object[exc.start]:#04x} at column {exc.start + 1}"
            raise error(f"{path}:{rows.line_num + 1}: not UTF-8 text ({byte})") from None
        except HeaderError as exc:
            raise error(f"{path}: {exc}") from None
        except (EOFError, zlib.error, gzip.BadGzipFile):
            at = f"after line {rows.line_num}"
            raise error(f"{path}: gzip data is truncated or corrupt {at}") from None
        except OSError as exc:
            raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
        except IndexError:
            raise error(f"{path}:{rows.line_num}: bad quote row: only {len(row)} fields") from None
        except (ValueError, csv.Error) as exc:
            raise error(f"{path}:{rows.line_num}: bad quote row: {exc}") from None


@contextmanager
def progress_bar(path: Path, *, enabled: bool | None = None) -> Iterator[Progress | None]:
    """A byte-count bar for `path` on stderr (shown after a second; by default only when
    stderr is a terminal), for read_quotes' `progress`; None when disabled."""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield None
        return
    try:
        size: int | None = path.stat().st_size
    except OSError:  # read_quotes reports it
        size = None
    with tqdm(total=size, desc=path.name, unit="B", unit_scale=True, delay=1.0, leave=False) as bar:
        yield bar.update


class HeaderError(ValueError):
    """The header fits neither layout."""


def row_parser(header: Sequence[str]) -> Callable[[list[str]], Tick]:
    """The function turning one data row under `header` into a Tick."""
    names = [name.strip() for name in header]
    if names:
        names[0] = names[0].removeprefix("\ufeff")
    tardis = set(TARDIS_COLUMNS).issubset(names)
    wanted = TARDIS_COLUMNS if tardis else ARBOT_COLUMNS
    missing = [c for c in wanted if c not in names]
    if missing:
        if not names:
            raise HeaderError("no CSV header (expected " + ",".join(ARBOT_COLUMNS) + ")")
        raise HeaderError(f"CSV header lacks column(s) {', '.join(missing)}")
    if tardis:
        return _tardis_parser([names.index(c) for c in TARDIS_COLUMNS])
    return _arbot_parser([names.index(c) for c in ARBOT_COLUMNS])


def _arbot_parser(columns: list[int]) -> Callable[[list[str]], Tick]:
    i_ts, i_exchange, i_symbol, i_bid, i_bid_size, i_ask, i_ask_size = columns
    ts_of = Clock("ts").seconds

    def parse(row: list[str]) -> Tick:
        ts = ts_of(row[i_ts])
        bid, ask = _prices(row[i_bid], row[i_ask])
        exchange, symbol = row[i_exchange], row[i_symbol]
        if not exchange or "/" not in symbol:
            raise ValueError(f"need an exchange and a unified symbol, got {exchange!r} {symbol!r}")
        return Tick(
            exchange, symbol, bid, ask, _size(row[i_bid_size]), _size(row[i_ask_size]), ts, ts
        )

    return parse


def _tardis_parser(columns: list[int]) -> Callable[[list[str]], Tick]:
    i_exchange, i_symbol, i_ts, i_local, i_ask_size, i_ask, i_bid, i_bid_size = columns
    ts_of, local_of = Clock("timestamp").seconds, Clock("local_timestamp").seconds
    symbols: dict[str, str] = {}

    def parse(row: list[str]) -> Tick:
        ts, received = ts_of(row[i_ts]), local_of(row[i_local])
        bid, ask = _prices(row[i_bid], row[i_ask])
        exchange, raw_symbol = row[i_exchange], row[i_symbol]
        symbol = symbols.get(raw_symbol)
        if symbol is None:
            symbol = symbols[raw_symbol] = unified_symbol(raw_symbol)
        if not exchange:
            raise ValueError("need an exchange")
        return Tick(
            exchange, symbol, bid, ask, _size(row[i_bid_size]), _size(row[i_ask_size]), ts, received
        )

    return parse


def unified_symbol(raw: str) -> str:
    """A Tardis (exchange-native) symbol as BASE/QUOTE when its quote asset is known."""
    text = raw.strip().upper()
    base, sep, quote = text.replace("_", "-").replace("/", "-").partition("-")
    if not sep:
        ends = [q for q in QUOTE_ASSETS if text.endswith(q) and q != text]
        quote = max(ends, key=len, default="")  # BTCFDUSD is BTC/FDUSD, not BTCFD/USD
        base = text.removesuffix(quote)
        if quote == "TUSD" or (quote == "USD" and base.endswith("T")):
            raise ValueError(f"symbol {raw!r} is ambiguous: quoted in USD or in TUSD?")
    if base.isalnum() and quote in QUOTE_ASSETS:
        return f"{base}/{quote}"
    raise ValueError(f"cannot map symbol {raw!r} to BASE/QUOTE (known quote assets only)")


class Clock:
    """One time column's text -> UNIX seconds; the first value fixes the kind and unit."""

    __slots__ = ("column", "high", "low", "scale")

    def __init__(self, column: str) -> None:
        self.column = column
        self.scale = -1  # not decided yet
        self.low, self.high = -math.inf, math.inf

    def seconds(self, text: str) -> float:
        scale = self.scale
        if scale == 1:
            value = float(text)
        elif scale > 1:
            value = _scaled(text, scale)
        elif scale == ISO:
            value = _iso(text, self.column)
        else:
            self._decide(text)
            return self.seconds(text)
        if not self.low <= value < self.high:
            raise ValueError(self._mismatch(text, value))
        return value

    def _decide(self, text: str) -> None:
        try:
            number = float(text)
        except ValueError:
            _iso(text, self.column)
            self.scale = ISO
            return
        if not math.isfinite(number):
            raise ValueError(f"{self.column} must be a finite number, got {text!r}")
        self.high, self.scale, _ = next(u for u in UNITS if number < u[0])
        if self.scale > 1:
            self.low, self.high = SCALED_RANGE

    def _mismatch(self, text: str, value: float) -> str:
        if not math.isfinite(value):
            return f"{self.column} must be a finite number, got {text!r}"
        unit = next(u[2] for u in UNITS if u[1] == self.scale)
        return f"{self.column} {text!r} is not in {unit} like the first row's"


def _scaled(text: str, scale: int) -> float:
    """`text` / `scale` rounded once, so 1723161254087891 µs and ...891000 ns are equal."""
    try:
        return int(text) / scale
    except ValueError:
        whole, dot, fraction = text.partition(".")
        if dot and fraction.isdigit() and whole.lstrip("+-").isdigit():
            denominator: int = scale * 10 ** len(fraction)
            return int(whole + fraction) / denominator
        return float(text) / scale


def _iso(text: str, column: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{column} {text!r} is neither an epoch number nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _prices(bid_text: str, ask_text: str) -> tuple[float, float]:
    bid, ask = float(bid_text), float(ask_text)
    if not 0.0 < bid <= ask < math.inf:
        raise ValueError(f"need 0 < bid <= ask, got bid {bid} ask {ask}")
    return bid, ask


def _size(text: str) -> float | None:
    if text == "":
        return None
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"size must be a non-negative number, got {text!r}")
    return value


class _CountingFile(io.FileIO):
    """A file telling `progress` how many bytes each read returned."""

    def __init__(self, path: Path, progress: Progress) -> None:
        super().__init__(path, "rb")
        self._progress = progress

    def readinto(self, buffer: WriteableBuffer, /) -> int | None:
        n = super().readinto(buffer)
        if n:
            self._progress(n)
        return n


@contextmanager
def _open(
    path: Path, error: type[ArbotError], what: str, progress: Progress | None
) -> Iterator[BinaryIO]:
    """The file's (decompressed) bytes, after checking that they can be a quotes CSV."""
    cannot = f"{path}: cannot read {what}"
    with ExitStack() as stack:
        try:
            raw = _CountingFile(path, progress) if progress else io.FileIO(path, "rb")
            source: io.BufferedReader[Any] = io.BufferedReader(raw, BUFFER_BYTES)
            stack.enter_context(source)
            if not source.peek(len(GZIP_MAGIC)).startswith(GZIP_MAGIC):
                _check_head(source.peek(1), f"{cannot}: the file", error)
            else:
                unzipped = gzip.GzipFile(fileobj=source)
                # GzipFile's own peek inflates one small chunk: a bad byte further on is
                # then met row by row, where its line is known.
                _check_head(unzipped.peek(1), f"{cannot}: its gzip data", error)
                source = stack.enter_context(io.BufferedReader(unzipped, BUFFER_BYTES))
        except (EOFError, zlib.error, gzip.BadGzipFile):
            raise error(f"{path}: gzip data is truncated or corrupt") from None
        except OSError as exc:
            raise error(f"{cannot}: {exc.strerror or exc}") from None
        yield source


def _check_head(head: bytes, what: str, error: type[ArbotError]) -> None:
    if not head:
        raise error(f"{what} is empty")
    for magic, kind in NOT_CSV:
        if head.startswith(magic):
            raise error(f"{what} is {kind}, not a quotes CSV")
    if b"\x00" in head[:4096]:
        raise error(f"{what} is binary, not a quotes CSV")
