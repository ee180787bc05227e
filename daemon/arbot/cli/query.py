"""`arbot query ...`: price history, spread statistics, signal statistics, daily
performance. Read-only connections; a table on a TTY, JSON with --json."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from arbot.cli.common import add_config_args, emit, resolve_settings
from arbot.errors import EXIT_USAGE, ArbotError
from arbot.storage import queries
from arbot.storage.schema import open_database


class BadTime(ArbotError):
    exit_code = EXIT_USAGE


def parse_time(text: str, flag: str, error: type[ArbotError] = BadTime) -> float:
    """UNIX seconds, or an ISO-8601 date/time (UTC unless it names an offset); a bad value
    raises `error` naming `flag`."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise error(
            f"{flag} {text!r}: not a time (UNIX seconds or ISO 8601, e.g. 2024-08-08T12:00)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def register(groups: dict[str, Any]) -> None:
    q = groups["query"]
    p = q.add_parser("prices", help="price history of one symbol on one exchange")
    add_config_args(p, json_output=True)
    p.add_argument("symbol", help="unified symbol, e.g. BTC/USDT")
    p.add_argument("exchange", help="exchange name as configured")
    p.add_argument("--from", dest="start", help="start (UNIX s or ISO); default 1 hour ago")
    p.add_argument("--to", dest="end", help="end (UNIX s or ISO); default now")
    p.add_argument("--limit", type=int, default=1000, help="at most this many rows (1000)")
    p.set_defaults(handler=cmd_prices)

    p = q.add_parser("spreads", help="spread statistics per symbol and exchange")
    add_config_args(p, json_output=True)
    p.add_argument("--symbol", help="only this symbol")
    p.add_argument("--hours", type=float, default=24.0, help="look-back window (24)")
    p.add_argument("--min-samples", type=int, default=100, help="minimum quotes per pair (100)")
    p.set_defaults(handler=cmd_spreads)

    p = q.add_parser("signals", help="arbitrage signal statistics")
    add_config_args(p, json_output=True)
    p.add_argument("--hours", type=float, default=24.0, help="look-back window (24)")
    p.set_defaults(handler=cmd_signals)

    p = q.add_parser("performance", help="daily trade performance with cumulative profit")
    add_config_args(p, json_output=True)
    p.add_argument("--days", type=int, default=30, help="look-back window in days (30)")
    p.set_defaults(handler=cmd_performance)


def _run(args: argparse.Namespace, work: Any) -> Any:
    conn = open_database(resolve_settings(args).storage.data_dir, "arbot", readonly=True)
    try:
        return work(conn)
    finally:
        conn.close()


def cmd_prices(args: argparse.Namespace) -> int:
    now = time.time()
    end = parse_time(args.end, "--to") if args.end else now
    start = parse_time(args.start, "--from") if args.start else end - 3600
    rows = _run(
        args,
        lambda c: queries.price_history(
            c, args.symbol, args.exchange, start=start, end=end, limit=args.limit
        ),
    )
    if not args.json:
        for r in rows:
            r["time"] = datetime.fromtimestamp(r["timestamp"], UTC).isoformat(
                timespec="milliseconds"
            )
        emit(rows, False, columns=("time", "bid", "ask", "bid_size", "ask_size"))
    else:
        emit(rows, True)
    return 0


def cmd_spreads(args: argparse.Namespace) -> int:
    since = time.time() - args.hours * 3600
    rows = _run(args, lambda c: queries.spread_analysis(c, since, args.symbol, args.min_samples))
    columns = (
        "symbol", "exchange", "samples", "avg_spread", "min_spread", "max_spread",
        "median_spread", "stdev_spread", "avg_spread_percent", "median_spread_percent",
        "stdev_spread_percent",
    )  # fmt: skip
    emit(rows, args.json, columns=None if args.json else columns)
    return 0


def cmd_signals(args: argparse.Namespace) -> int:
    emit(_run(args, lambda c: queries.signal_stats(c, args.hours, time.time())), args.json)
    return 0


def cmd_performance(args: argparse.Namespace) -> int:
    emit(_run(args, lambda c: queries.daily_performance(c, args.days, time.time())), args.json)
    return 0
