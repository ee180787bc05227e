"""`arbot query ...`: price history, spread statistics, signals, daily performance, an
order book as stored. Read-only connections; a table (--wide for every column), or JSON
with --json."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from itertools import zip_longest
from typing import Any, TypeVar

from arbot.cli.common import (
    UsageError,
    add_config_args,
    book_depth,
    check_range,
    days,
    finite_float,
    hours,
    iso,
    iso_ms,
    positive_int,
    resolve_settings,
    timestamp,
)
from arbot.cli.output import Column, exact, fixed, note, print_json, print_mapping, print_table
from arbot.models import Book
from arbot.storage.backend import backend_of
from arbot.storage.queries import Queries, Table

T = TypeVar("T")
PERCENT = fixed(4)


def register(groups: dict[str, Any]) -> None:
    q = groups["query"]
    p = q.add_parser("prices", help="price history of one symbol on one exchange, newest first")
    add_config_args(p, json_output=True)
    p.add_argument("symbol", help="unified symbol, e.g. BTC/USDT")
    p.add_argument("exchange", help="exchange name as configured")
    p.add_argument("--from", dest="start", type=timestamp, help="start (UNIX s or ISO, UTC); "
                   "default 1 hour before --to")  # fmt: skip
    p.add_argument("--to", dest="end", type=timestamp, help="end (UNIX s or ISO); default now")
    p.add_argument("--limit", type=positive_int, default=1000, help="at most this many rows (1000)")
    p.add_argument("--oldest-first", action="store_true", help="oldest rows first")
    p.set_defaults(handler=cmd_prices)

    p = q.add_parser("spreads", help="bid-ask spread statistics per symbol and exchange")
    add_config_args(p, json_output=True)
    p.add_argument("--symbol", help="only this symbol")
    p.add_argument("--hours", type=hours, default=24.0, help="look-back window (24)")
    p.add_argument("--min-samples", type=positive_int, default=100,
                   help="minimum quotes per pair (100)")  # fmt: skip
    p.add_argument("--wide", action="store_true", help="every column, however wide")
    p.set_defaults(handler=cmd_spreads)

    p = q.add_parser("signals", help="arbitrage signals, newest first, and their totals")
    add_config_args(p, json_output=True)
    p.add_argument("--hours", type=hours, default=24.0, help="look-back window (24)")
    p.add_argument("--since", type=timestamp, help="instead of --hours: from this time")
    p.add_argument("--symbol", help="only this symbol")
    p.add_argument("--exchange", help="only signals buying or selling on this exchange")
    p.add_argument("--min-profit", type=finite_float, metavar="PERCENT",
                   help="only signals with net profit_percent at least this")  # fmt: skip
    p.add_argument("--limit", type=positive_int, default=50, help="signals to list (50)")
    p.add_argument("--wide", action="store_true", help="every column, however wide")
    p.set_defaults(handler=cmd_signals)

    p = q.add_parser("performance", help="daily trade performance with cumulative profit")
    add_config_args(p, json_output=True)
    p.add_argument("--days", type=days, default=30, help="look-back window in days (30)")
    p.set_defaults(handler=cmd_performance)

    p = q.add_parser("book", help="an order book as stored at a time (its last change before)")
    add_config_args(p, json_output=True)
    p.add_argument("--exchange", required=True, help="exchange name as configured")
    p.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
    p.add_argument("--at", type=timestamp, metavar="TIME",
                   help="time (UNIX s or ISO, UTC); default now")  # fmt: skip
    p.add_argument("--levels", type=book_depth, metavar="N",
                   help="at most this many levels a side (all)")  # fmt: skip
    p.set_defaults(handler=cmd_book)


def _run(args: argparse.Namespace, work: Callable[[Queries], T]) -> T:
    with backend_of(resolve_settings(args)).reader() as q:
        return work(q)


def check_known(q: Queries, table: Table, name: str | None) -> None:
    """An unknown name is a usage error that lists the names arbot.db knows."""
    if name is None:
        return
    known = q.known_names(table)
    if name not in known:
        what = table[:-1]
        listed = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
        raise UsageError(
            f"unknown {what} {name!r}: arbot.db has "
            + (f"data for {listed}" if known else f"no {table} yet")
        )


def truncated(rows: list[dict[str, Any]], limit: int, what: str) -> bool:
    """Drop the probe row fetched past `limit`; say so when there was one."""
    if len(rows) <= limit:
        return False
    del rows[limit:]
    note(f"(showing {limit} {what}; more match: raise --limit or narrow the time range)")
    return True


def cmd_prices(args: argparse.Namespace) -> int:
    end = args.end if args.end is not None else time.time()
    start = args.start if args.start is not None else end - 3600
    check_range(start, end, "--from", "--to")

    def work(q: Queries) -> list[dict[str, Any]]:
        check_known(q, "symbols", args.symbol)
        check_known(q, "exchanges", args.exchange)
        rows: list[dict[str, Any]] = q.price_history(
            args.symbol, args.exchange, start=start, end=end,
            limit=args.limit + 1, newest_first=not args.oldest_first,
        )  # fmt: skip
        return rows

    rows = _run(args, work)
    more = truncated(rows, args.limit, "rows")
    if args.json:
        print_json({"symbol": args.symbol, "exchange": args.exchange, "rows": rows,
                    "truncated": more})  # fmt: skip
        return 0
    for r in rows:
        r["time"] = iso_ms(r["timestamp"])
    print_table(
        rows,
        (Column("time", "time (UTC)"), Column("bid", fmt=exact), Column("ask", fmt=exact),
         Column("bid_size", fmt=exact), Column("ask_size", fmt=exact)),
    )  # fmt: skip
    return 0


SPREAD_COLUMNS = (
    Column("symbol"),
    Column("exchange"),
    Column("samples"),
    Column("avg_spread_percent", "avg %", PERCENT),
    Column("median_spread_percent", "median %", PERCENT),
    Column("min_spread_percent", "min %", PERCENT),
    Column("max_spread_percent", "max %", PERCENT),
    Column("stdev_spread_percent", "stdev %", PERCENT),
    Column("avg_spread", "avg (quote)"),
    Column("median_spread", "median (quote)"),
    Column("min_spread", "min (quote)"),
    Column("max_spread", "max (quote)"),
    Column("stdev_spread", "stdev (quote)"),
)


def cmd_spreads(args: argparse.Namespace) -> int:
    since = time.time() - args.hours * 3600

    def work(q: Queries) -> list[dict[str, Any]]:
        check_known(q, "symbols", args.symbol)
        rows: list[dict[str, Any]] = q.spread_analysis(since, args.symbol, args.min_samples)
        return rows

    rows = _run(args, work)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, SPREAD_COLUMNS, wide=args.wide)
    return 0


SIGNAL_COLUMNS = (
    Column("time", "time (UTC)"),
    Column("symbol"),
    Column("buy_exchange", "buy on"),
    Column("sell_exchange", "sell on"),
    Column("profit_percent", "net %", PERCENT),
    Column("profit", "profit (quote)"),
    Column("confidence", "conf", fixed(2)),
    Column("buy_price", "buy price", exact),
    Column("sell_price", "sell price", exact),
    Column("buy_size", "buy size", exact),
    Column("sell_size", "sell size", exact),
    Column("trend_direction", "trend"),
    Column("executed"),
    # Through order books (depth > 0): the executable trade, profit and net % above are its.
    Column("quantity", "book qty"),
    Column("buy_vwap", "buy vwap"),
    Column("sell_vwap", "sell vwap"),
    Column("size_edges", "net % at sizes"),
)


def cmd_signals(args: argparse.Namespace) -> int:
    now = time.time()
    since = args.since if args.since is not None else now - args.hours * 3600
    check_range(since, now, "--since", "now")

    def work(q: Queries) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        check_known(q, "symbols", args.symbol)
        check_known(q, "exchanges", args.exchange)
        totals = q.signal_stats((now - since) / 3600, now)
        rows = q.list_signals(
            since, symbol=args.symbol, exchange=args.exchange,
            min_profit_percent=args.min_profit, limit=args.limit + 1,
        )  # fmt: skip
        return totals, rows

    totals, rows = _run(args, work)
    more = truncated(rows, args.limit, "signals")
    if args.json:
        print_json({"since": since, "totals": totals, "signals": rows, "truncated": more})
        return 0
    print_mapping(
        {
            "since (UTC)": iso(since),
            "signals (all)": totals["total_signals"],
            "executed": totals["executed_signals"],
            "executed %": f"{100 * totals['execution_rate']:.1f}",
            "avg net %": _maybe(totals["avg_profit_percent"]),
            "max net %": _maybe(totals["max_profit_percent"]),
            "avg confidence": _maybe(totals["avg_confidence"], 2),
        }
    )
    print()
    for r in rows:
        r["time"] = iso(r["timestamp"])
        r["executed"] = "yes" if r["executed"] else "no"
        if r["size_edges"] is not None:
            r["size_edges"] = " ".join(
                f"{e['notional']:g}:"
                + ("-" if e["edge_percent"] is None else f"{e['edge_percent']:.4f}")
                for e in r["size_edges"]
            )
    print_table(rows, SIGNAL_COLUMNS, wide=args.wide)
    return 0


def _maybe(value: float | None, decimals: int = 4) -> str | None:
    return None if value is None else f"{value:.{decimals}f}"


def cmd_performance(args: argparse.Namespace) -> int:
    rows = _run(args, lambda q: q.daily_performance(args.days, time.time()))
    if args.json:
        print_json(rows)
        return 0
    print_table(
        rows,
        (
            Column("trade_date", "date (UTC)"),
            Column("trade_count", "trades"),
            Column("winning_trades", "winning"),
            Column("daily_profit", "profit (quote)"),
            Column("avg_profit", "avg profit (quote)"),
            Column("total_fees", "fees (quote)"),
            Column("cumulative_profit", "cumulative (quote)"),
        ),
    )
    return 0


BOOK_COLUMNS = (
    Column("bid_amount", "bid amount", exact),
    Column("bid", "bid", exact),
    Column("ask", "ask", exact),
    Column("ask_amount", "ask amount", exact),
)


def cmd_book(args: argparse.Namespace) -> int:
    at = args.at if args.at is not None else time.time()
    settings = resolve_settings(args)
    book = backend_of(settings).book_at(args.exchange, args.symbol, at)
    if book is None:

        def known(q: Queries) -> None:
            check_known(q, "exchanges", args.exchange)
            check_known(q, "symbols", args.symbol)

        _run(args, known)
    if args.json:
        print_json(
            {"exchange": args.exchange, "symbol": args.symbol, "at": at,
             "book": None if book is None else _book_json(book, args.levels)}
        )  # fmt: skip
        return 0
    if book is None:
        print(f"no book of {args.exchange} {args.symbol} stored at or before {iso_ms(at)}")
        return 0
    print_mapping(
        {
            "exchange": book.exchange,
            "symbol": book.symbol,
            "time (UTC)": iso_ms(book.timestamp),
            "received (UTC)": iso_ms(book.received),
            "resync": "yes: rebuilt by the feed, or books before it not stored"
            if book.resync
            else "no",
        }
    )
    print()
    sides = book.bids[: args.levels], book.asks[: args.levels]
    rows = [
        {"bid_amount": bid[1], "bid": bid[0], "ask": ask[0], "ask_amount": ask[1]}
        for bid, ask in zip_longest(*sides, fillvalue=(None, None))
    ]
    print_table(rows, BOOK_COLUMNS, wide=True)
    return 0


def _book_json(book: Book, levels: int | None) -> dict[str, Any]:
    return {
        "timestamp": book.timestamp,
        "received": book.received,
        "resync": book.resync,
        "bids": [list(level) for level in book.bids[:levels]],
        "asks": [list(level) for level in book.asks[:levels]],
    }
