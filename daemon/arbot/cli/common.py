"""Shared CLI plumbing: checked argument types, settings resolution, the data directory
check every tool shares, time and size formatting (output.py prints)."""

from __future__ import annotations

import argparse
import math
import os
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from arbot.cli.owner import act_as_data_owner
from arbot.errors import EXIT_USAGE, ArbotError, DatabaseError
from arbot.settings import Settings, config_path, load_settings
from arbot.settings_feeds import MAX_DEPTH

# Upper bounds of counts and look-back windows: far beyond any real use, and low enough that
# SQLite integers and datetime arithmetic cannot overflow.
MAX_COUNT = 1_000_000_000
MAX_SECONDS = 1e9
MAX_DAYS = 36_500


class UsageError(ArbotError):
    """A command-line value is wrong; the message names the option."""

    exit_code = EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `arbot db stats: error: ... (see --help)`."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive(text: str, kind: type[int] | type[float], maximum: float) -> float:
    value = _number(text, kind)
    if not 0 < value <= maximum:
        whole = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(
            f"must be {whole} above 0 and at most {maximum:g}, got {text!r}"
        )
    return value


def positive_int(text: str) -> int:
    """A count or limit: 1 .. MAX_COUNT."""
    return int(_positive(text, int, MAX_COUNT))


def book_depth(text: str) -> int:
    """Order-book levels a side: 1 .. exchanges.depth's bound."""
    return int(_positive(text, int, MAX_DEPTH))


def positive_float(text: str) -> float:
    """A duration in seconds: above 0, at most MAX_SECONDS."""
    return _positive(text, float, MAX_SECONDS)


def hours(text: str) -> float:
    return _positive(text, float, MAX_DAYS * 24)


def days(text: str) -> int:
    return int(_positive(text, int, MAX_DAYS))


def finite_float(text: str) -> float:
    return _number(text, float)


def fraction(text: str) -> float:
    """A fraction in [0, 1): 0.2 means 20 %."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to below 1, got {text!r}")
    return value


def listen_address(text: str) -> str:
    """HOST:PORT with a port from 1 to 65535."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT with a port 1-65535, got {text!r}")
    return text


def timestamp(text: str) -> float:
    """UNIX seconds, or an ISO-8601 date/time (UTC unless it names an offset)."""
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a time (UNIX seconds or ISO 8601, e.g. 2024-08-08T12:00)"
            ) from None
        value = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time after 1970")
    return value


def utc_day(text: str) -> date:
    """YYYY-MM-DD, not after today (UTC): a day that has not happened has no data."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if day > datetime.now(UTC).date():
        raise argparse.ArgumentTypeError(f"{text} is in the future (UTC)")
    return day


def input_file(text: str) -> Path:
    """An existing, readable regular file (what it holds is checked by its reader)."""
    path = Path(text)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{text}: no such file") from None
    except OSError as exc:  # a folder on the way that this user may not enter
        raise argparse.ArgumentTypeError(f"{text}: cannot reach ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise argparse.ArgumentTypeError(f"{text}: not a regular file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: not readable (permission denied)")
    return path


def check_range(start: float, end: float, start_flag: str, end_flag: str) -> None:
    if start > end:
        raise UsageError(f"{start_flag} ({iso(start)}) is after {end_flag} ({iso(end)})")


def add_config_args(parser: argparse.ArgumentParser, *, json_output: bool = False) -> None:
    parser.add_argument(
        "--config", help="TOML config (default: $ARBOT_CONFIG or /etc/arbot/arbot.toml)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data directory (overrides config and $ARBOT_DATA_DIR)"
    )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Settings for a tool command: the config file when there is one (given explicitly or
    existing), else defaults; --data-dir and ARBOT_DATA_DIR override the data directory.
    Then the process acts as the data directory's owner (cli/owner.py)."""
    path = config_path(getattr(args, "config", None))
    explicit = getattr(args, "config", None) or os.environ.get("ARBOT_CONFIG")
    if explicit or path.exists():
        settings = load_settings(path, getattr(args, "data_dir", None))
    else:
        override = getattr(args, "data_dir", None) or (
            Path(env) if (env := os.environ.get("ARBOT_DATA_DIR")) else None
        )
        settings = Settings().with_data_dir(override) if override else Settings()
    act_as_data_owner(settings.storage.data_dir)
    return settings


def require_chosen_data_dir(args: argparse.Namespace, settings: Settings, what: str) -> None:
    """Commands that write (a replay's store, a backtest's results) create a data dir only
    where one was asked for (--data-dir, ARBOT_DATA_DIR or a config file), never the
    built-in default /var/lib/arbot by accident."""
    data_dir = settings.storage.data_dir
    chosen = (
        getattr(args, "data_dir", None)
        or os.environ.get("ARBOT_DATA_DIR")
        or getattr(args, "config", None)
        or os.environ.get("ARBOT_CONFIG")
        or config_path(None).exists()
    )
    if not chosen and not data_dir.exists():
        raise DatabaseError(
            f"{data_dir}: no such data directory, and none was chosen (no --data-dir, "
            f"ARBOT_DATA_DIR or config file); give --data-dir DIR for {what}"
        )


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC to the second (what a person reads; JSON keeps the number)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_ms(ts: float | None) -> str | None:
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def human_bytes(n: float | None) -> str | None:
    """1536 -> '1.5 KiB'; binary units as `ls -h` and `du -h` print them."""
    if n is None:
        return None
    if abs(n) < 1024:
        return f"{int(n)} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
