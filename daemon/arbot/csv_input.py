"""What every recorded-data CSV shares: opening it (plain or gzip, told by its magic bytes,
after checking it can be text), a byte-count progress bar, and time columns.

Times are epoch numbers or ISO 8601, each time column's kind and unit fixed by the file's
first row: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
nanoseconds (each unit then covers 1973 to 5138; a later row outside its unit's range is an
error). ISO 8601 takes `Z` or an offset, naive means UTC; digits past the microsecond are
dropped.
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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


class HeaderError(ValueError):
    """The header fits no layout."""


def header_names(header: Sequence[str]) -> list[str]:
    """The header's column names, stripped, without a UTF-8 BOM."""
    names = [name.strip() for name in header]
    if names:
        names[0] = names[0].removeprefix("\ufeff")
    return names


@contextmanager
def progress_bar(path: Path, *, enabled: bool | None = None) -> Iterator[Progress | None]:
    """A byte-count bar for `path` on stderr (shown after a second; by default only when
    stderr is a terminal), for a reader's `progress`; None when disabled."""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield None
        return
    try:
        size: int | None = path.stat().st_size
    except OSError:  # the reader reports it
        size = None
    with tqdm(total=size, desc=path.name, unit="B", unit_scale=True, delay=1.0, leave=False) as bar:
        yield bar.update


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
def open_csv(
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
