"""`arbot replay FILE.csv`: recorded quotes through the detector and writer, then a summary."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from arbot.cli.common import add_config_args, input_file, iso_ms, positive_int, resolve_settings
from arbot.cli.output import emit
from arbot.replay import ReplaySummary, exchanges_in, replay, replay_params
from arbot.storage.connection import db_path


def register(groups: dict[str, Any]) -> None:
    p = groups["root"].add_parser(
        "replay",
        help="replay a CSV of quotes (ts,exchange,symbol,bid,bid_size,ask,ask_size) through "
        "the detector on the file's clock and store ticks, signals and episodes",
    )
    p.add_argument("file", type=input_file, help="CSV of quotes in time order")
    add_config_args(p, json_output=True)
    p.add_argument("--no-store", action="store_true", help="run the detector only; write nothing")
    p.add_argument("--top", type=positive_int, default=5, help="opportunities to list (default 5)")
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    seen = exchanges_in(args.file)
    params = replay_params(settings, seen)
    summary = asyncio.run(replay(args.file, settings, params, store=not args.no_store))
    ignored = [name for name in seen if name not in params]
    database = None if args.no_store else str(db_path(settings.storage.data_dir, "arbot"))
    report = _report(summary, args.top, str(args.file), database, ignored)
    if args.json:
        emit(report, True)
        return 0
    emit({k: v for k, v in report.items() if k != "top"}, False)
    print(f"\ntop {args.top} opportunities (by peak net profit %):")
    emit(report["top"], False)
    return 0


def _report(
    s: ReplaySummary, top: int, file: str, database: str | None, ignored: list[str]
) -> dict[str, Any]:
    return {
        "file": file,
        "ticks": s.ticks,
        "stored_ticks": s.stored if database else None,
        "signals": s.signals,
        "episodes": len(s.episodes),
        "close_reasons": dict(sorted(s.close_reasons.items())),
        "first": iso_ms(s.first_ts),
        "last": iso_ms(s.last_ts),
        "database": database,
        "ignored_exchanges": ignored,
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
