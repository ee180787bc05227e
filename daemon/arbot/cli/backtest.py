"""`arbot backtest` (replay quotes through detector + paper executor, with parameter sweeps)
and `arbot db rollup` (daily performance rows)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from arbot.cli.common import (
    UsageError,
    add_config_args,
    input_file,
    iso,
    require_chosen_data_dir,
    resolve_settings,
    timestamp,
    utc_day,
)
from arbot.cli.output import Column, emit, fixed, print_json, print_mapping, print_table
from arbot.cli.replay import add_depth_arg, fees_report
from arbot.errors import ConfigError
from arbot.models import Book, Tick
from arbot.recorded import book_depths, open_quote_file, stored_items
from arbot.rollup import previous_utc_day
from arbot.settings import Settings, parse_settings
from arbot.storage import backtests as store
from arbot.storage.backend import backend_of
from arbot.storage.connection import require_databases
from arbot.storage.sqlite.backend import SqliteBackend
from arbot.venues import params_for_data

Combination = dict[str, Any]


def register(groups: dict[str, Any]) -> None:
    p = groups["root"].add_parser(
        "backtest",
        help="replay recorded quotes and books through the detector and paper executor",
        description="Replay quotes or order books from a CSV (as arbot replay reads them) "
        "or recorded ticks and books; results go to backtest.db of the data dir, or to PostgreSQL "
        "with storage.backend = postgresql. "
        "Repeating --set for a key sweeps it (one run per combination).",
    )
    p.add_argument("csv", nargs="?", type=input_file, help="CSV file of quotes or books")
    p.add_argument(
        "--from-db",
        nargs="?",
        const=True,
        type=Path,
        metavar="DIR",
        help="replay recorded ticks and order books: of DIR's arbot.db, or without DIR of "
        "the configured storage (the data dir's arbot.db, or PostgreSQL)",
    )
    p.add_argument(
        "--from", dest="time_from", type=timestamp, metavar="T", help="start (UNIX s or ISO, UTC)"
    )
    p.add_argument(
        "--to", dest="time_to", type=timestamp, metavar="T", help="end, exclusive (UNIX s or ISO)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="settings override, e.g. detector.min_profit_percent=0.2 (repeat to sweep)",
    )
    p.add_argument("--wide", action="store_true", help="every column, however wide")
    add_config_args(p, json_output=True)
    add_depth_arg(p)
    p.set_defaults(handler=cmd_backtest)

    r = groups["db"].add_parser("rollup", help="compute a day's performance_metrics/symbol_stats")
    r.add_argument("--date", type=utc_day, help="UTC day YYYY-MM-DD (default: yesterday)")
    add_config_args(r, json_output=True)
    r.set_defaults(handler=cmd_rollup)


def parse_sets(items: Sequence[str]) -> dict[str, list[Any]]:
    """KEY=VALUE items -> key -> values in order given; values parse as TOML when they can
    (0.2, true, [1, 2], "x"), else stay strings (ws, binance)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        values = out.setdefault(key.strip(), [])
        if value not in values:
            values.append(value)
    return out


def combinations(sets: dict[str, list[Any]]) -> list[Combination]:
    """The cartesian product of the values, keys in the order first given."""
    keys = list(sets)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sets.values())]


def apply_overrides(base: Settings, combo: Combination) -> Settings:
    """`base` with dotted keys replaced (exchanges by name as in `arbot config`:
    exchanges.kraken.taker_fee, or by index: exchanges.0.taker_fee), validated like the
    config file, so errors name the key."""
    data = _listify(base.model_dump(mode="python"))
    for key, value in combo.items():
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            where = ".".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, list):
                names = [item.get("name") if isinstance(item, dict) else None for item in node]
                index = str(names.index(part)) if part in names else part
                if not index.isdigit() or int(index) >= len(node):
                    raise ConfigError(f"--set {key}: {where} is not an item of the list")
                if last:
                    node[int(index)] = value
                else:
                    node = node[int(index)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value  # an unknown key is reported by the validation
                elif isinstance(node.get(part), dict | list):
                    node = node[part]
                else:
                    raise ConfigError(f"--set {key}: {where} is not a settings section")
    label = ", ".join(f"{k}={v}" for k, v in combo.items())
    return parse_settings(data, f"--set {label}")


def _listify(value: Any) -> Any:
    """model_dump gives tuples; make them lists so nested items can be assigned."""
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listify(v) for v in value]
    return value


def _settings_record(settings: Settings) -> dict[str, Any]:
    # ccxt_config may hold credentials: they are no part of a backtest's settings.
    exclude = {"exchanges": {"__all__": {"ccxt_options", "ccxt_config"}}}
    return settings.model_dump(mode="json", exclude=exclude)


def cmd_backtest(args: argparse.Namespace) -> int:
    # Imported here: the detector and executor are not needed by the rest of the CLI.
    from arbot.backtest import run_backtest

    base = resolve_settings(args)
    sets = parse_sets(args.set)
    combos = combinations(sets)
    runs = [(combo, apply_overrides(base, combo)) for combo in combos]
    source, label, t_from, t_to, exchanges, per_run = _source(args, base)
    require_chosen_data_dir(args, base, "the results (backtest.db)")
    sweep_id = uuid.uuid4().hex[:12]
    with backend_of(base).open("backtest") as (conn, where):
        with tqdm(total=per_run * len(runs), unit="tick", disable=not sys.stderr.isatty()) as bar:
            for combo, settings in runs:
                spec = store.RunSpec(
                    sweep_id, label, t_from, t_to, _settings_record(settings), combo
                )
                run_id = store.start_run(conn, spec)
                try:
                    params, _ = params_for_data(settings.exchanges, exchanges)
                    result = asyncio.run(run_backtest(settings, source(), params, bar.update))
                except Exception as exc:
                    store.fail_run(conn, run_id, repr(exc))
                    raise
                store.finish_run(conn, run_id, result)
        rows = store.run_results(conn, sweep_id)
    for row in rows:
        row["overrides"] = json.loads(row["overrides"])
    params, defaulted = params_for_data(base.exchanges, exchanges)
    fees = fees_report(params, defaulted)
    if args.json:
        print_json({"sweep": sweep_id, "runs": rows, "fees": fees})
        return 0
    print(f"sweep {sweep_id}: {len(rows)} run(s) recorded in {where}")
    for row in rows:
        row["overrides"] = " ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "-"
        row["win_rate"] = None if row["win_rate"] is None else 100 * row["win_rate"]
    print_table(rows, BACKTEST_COLUMNS, wide=args.wide)
    print("\nfees used (taker, %; --set overrides apply per run):")
    emit(fees, False)
    return 0


# Money in the quote currency of the traded symbols; win rate as a percent of filled trades.
BACKTEST_COLUMNS = (
    Column("run"),
    Column("overrides"),
    Column("profit", "profit (quote)"),
    Column("signals"),
    Column("trades"),
    Column("filled"),
    Column("win_rate", "win %", fixed(1)),
    Column("fees", "fees (quote)"),
    Column("drawdown", "drawdown (quote)"),
    Column("avg_pct", "avg %", fixed(4)),
    Column("episodes"),
    Column("ticks"),
    Column("status"),
)


def _source(
    args: argparse.Namespace, settings: Settings
) -> tuple[Any, str, float | None, float | None, list[str], int]:
    """(ticks factory, input label, from, to, exchanges seen, ticks per run)."""
    if (args.csv is None) == (args.from_db is None):
        raise UsageError("backtest: give either a CSV file or --from-db DIR")
    if args.csv is not None:
        if args.time_from is not None or args.time_to is not None:
            raise UsageError("backtest: --from/--to apply to --from-db only")
        source = open_quote_file(args.csv, book_depths(settings.exchanges, args.depth))
        exchanges = sorted(source.exchanges)
        return source.ticks, str(args.csv), None, None, exchanges, source.rows
    if args.depth is not None:
        raise UsageError("backtest: --depth applies to a CSV file only")
    if args.time_from is None or args.time_to is None:
        raise UsageError("backtest: --from-db needs --from and --to")
    t_from, t_to = args.time_from, args.time_to
    if t_to <= t_from:
        raise UsageError(f"backtest: --to ({iso(t_to)}) must be after --from ({iso(t_from)})")
    if args.from_db is True:
        backend = backend_of(settings)
    else:
        require_databases(args.from_db, "arbot", given_by="--from-db")
        backend = SqliteBackend(settings, args.from_db)
    ticks = backend.tick_range(t_from, t_to)
    books = backend.book_range(t_from, t_to)

    def items() -> Iterator[Tick | Book]:
        return stored_items(ticks.ticks(), books.books())

    return items, ticks.where, t_from, t_to, ticks.exchanges, ticks.count + books.count


def cmd_rollup(args: argparse.Namespace) -> int:
    day = args.date or previous_utc_day(datetime.now(UTC).timestamp())
    result = backend_of(resolve_settings(args)).rollup(day)
    perf = asdict(result.performance)
    symbols = [asdict(s) for s in result.symbols]
    if args.json:
        emit({"performance": perf, "symbols": symbols}, True)
        return 0
    print_mapping(
        {
            "date (UTC)": perf["date"],
            "trades": perf["total_trades"],
            "completed": perf["successful_trades"],
            "profit (quote)": perf["total_profit"],
            "fees (quote)": perf["total_fees"],
            "avg profit %": perf["avg_profit_percent"],
            "max drawdown (quote)": perf["max_drawdown"],
            "sharpe ratio (annualised)": perf["sharpe_ratio"],
            "win rate %": 100 * perf["win_rate"],
            "avg trade duration (s)": perf["avg_trade_duration"],
        }
    )
    print()
    print_table(
        symbols,
        (
            Column("symbol"),
            Column("signals_generated", "signals"),
            Column("signals_executed", "executed"),
            Column("avg_spread", "avg spread %", fixed(4)),
            Column("max_spread", "max spread %", fixed(4)),
            Column("total_volume", "volume (quote)"),
            Column("profitability_score", "profitability %", fixed(4)),
        ),
    )
    return 0
