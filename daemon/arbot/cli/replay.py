"""`arbot replay FILE.csv`: recorded quotes and order books through the detector and
writer, then a summary."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from tqdm import tqdm

from arbot.book_diffs import DEFAULT_DEPTH
from arbot.cli.common import (
    add_config_args,
    book_depth,
    input_file,
    iso_ms,
    positive_int,
    require_chosen_data_dir,
    resolve_settings,
)
from arbot.cli.output import emit
from arbot.models import ExchangeParams
from arbot.recorded import book_depths, open_quote_file
from arbot.replay import ReplaySummary, replay
from arbot.venues import params_for_data


def register(groups: dict[str, Any]) -> None:
    p = groups["root"].add_parser(
        "replay",
        help="replay a CSV of quotes (ts,exchange,symbol,bid,bid_size,ask,ask_size, or Tardis "
        "quotes) or order books (Tardis book_snapshot_N or incremental_book_L2, or "
        "ts,exchange,symbol,b1..bN,bv1..bvN,a1..aN,av1..avN; plain or gzip) through the "
        "daemon's engine on the data's clock and store ticks, books, signals, episodes (and "
        "paper trades when paper.enabled)",
    )
    p.add_argument("file", type=input_file, help="CSV of quotes or books (plain or gzip)")
    add_config_args(p, json_output=True)
    add_depth_arg(p)
    p.add_argument("--no-store", action="store_true", help="run the engine only; write nothing")
    p.add_argument("--top", type=positive_int, default=5, help="opportunities to list (default 5)")
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    if not args.no_store:
        require_chosen_data_dir(args, settings, "the replay's data (or --no-store)")
    source = open_quote_file(args.file, book_depths(settings.exchanges, args.depth))
    params, defaulted = params_for_data(settings.exchanges, source.exchanges)
    with tqdm(total=source.rows, unit="tick", disable=not sys.stderr.isatty()) as bar:
        summary = asyncio.run(
            replay(source, settings, params, store=not args.no_store, progress=bar.update)
        )
    report = _report(summary, args.top, str(args.file), summary.database)
    report["fees"] = fees_report(params, defaulted)
    if args.json:
        emit(report, True)
        return 0
    emit({k: v for k, v in report.items() if k not in ("top", "fees")}, False)
    print("\nfees used (taker, %):")
    emit(report["fees"], False)
    print(f"\ntop {args.top} opportunities (by peak net profit %):")
    emit(report["top"], False)
    return 0


def add_depth_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--depth",
        type=book_depth,
        metavar="N",
        help="order-book levels a side to keep (default: the exchange's configured depth, "
        f"else all a book row has, {DEFAULT_DEPTH} of an incremental_book_L2 file)",
    )


def fees_report(params: dict[str, ExchangeParams], defaulted: list[str]) -> list[dict[str, Any]]:
    """Per exchange: the taker fee used and where it came from (config or defaults)."""
    return [
        {
            "exchange": name,
            "taker_fee_percent": round(p.taker_fee * 100, 6),
            "from": "defaults (not in config)" if name in defaulted else "config",
        }
        for name, p in params.items()
    ]


def _report(s: ReplaySummary, top: int, file: str, database: str | None) -> dict[str, Any]:
    return {
        "file": file,
        "ticks": s.ticks,
        "stored_ticks": s.stored if database else None,
        "books": s.books,
        "signals": s.signals,
        "episodes": len(s.episodes),
        "close_reasons": dict(sorted(s.close_reasons.items())),
        "first": iso_ms(s.first_ts),
        "last": iso_ms(s.last_ts),
        "database": database,
        "top": [
            {
                "symbol": e.symbol,
                "buy": e.buy_exchange,
                "sell": e.sell_exchange,
                "opened": iso_ms(e.opened_at),
                "seconds": round(e.closed_at - e.opened_at, 3),
                "peak_percent": round(e.peak_profit_percent, 6),
                "signals": e.signals,
                "closed_by": e.close_reason,
            }
            for e in s.top(top)
        ],
    }
