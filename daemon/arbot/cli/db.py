"""`arbot db ...`: database set-up and operations (init, prune, backup, restore, stats,
explain, maintain). Each command prints a table, or JSON with --json."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from arbot.cli.common import (
    add_config_args,
    fraction,
    human_bytes,
    input_file,
    iso,
    resolve_settings,
)
from arbot.cli.output import Column, emit, fixed, print_json, print_mapping, print_table
from arbot.errors import DatabaseError
from arbot.storage.backend import Report, backend_of
from arbot.storage.connection import DATABASES
from arbot.storage.sqlite import maintenance
from arbot.storage.sqlite.restore import infer_db
from arbot.storage.sqlite.stats import check_statement


def register(groups: dict[str, Any]) -> None:
    db = groups["db"]
    p = db.add_parser("init", help="create or migrate the four database files (idempotent)")
    add_config_args(p, json_output=True)
    p.set_defaults(handler=cmd_init)

    p = db.add_parser("prune", help="archive old ticks as 1h OHLCV, delete rows past retention")
    add_config_args(p, json_output=True)
    p.set_defaults(handler=cmd_prune)

    p = db.add_parser("backup", help="verified online backup of the database files, rotated")
    add_config_args(p, json_output=True)
    p.add_argument("--dest", type=Path, help="backup directory (default: backup.dir)")
    p.add_argument("--db", choices=DATABASES, action="append", help="only this file (repeat)")
    p.add_argument("--no-compress", action="store_true", help="plain .db files instead of .gz")
    p.set_defaults(handler=cmd_backup)

    p = db.add_parser("restore", help="replace a database with a backup (daemon stopped)")
    add_config_args(p, json_output=True)
    p.add_argument("file", type=input_file, help="backup file (.db or .db.gz)")
    p.add_argument("--db", choices=DATABASES, help="target database (default: from the name)")
    p.set_defaults(handler=cmd_restore)

    p = db.add_parser("stats", help="sizes, pages, row counts, indexes, ingestion rate")
    add_config_args(p, json_output=True)
    p.set_defaults(handler=cmd_stats)

    p = db.add_parser("explain", help="query plan of one read-only SELECT/WITH statement")
    add_config_args(p, json_output=True)
    p.add_argument("sql", help="the statement (parameters are bound as NULL)")
    p.add_argument("--db", choices=DATABASES, default="arbot", help="database (default arbot)")
    p.set_defaults(handler=cmd_explain)

    p = db.add_parser("maintain", help="ANALYZE, integrity check; REINDEX/VACUUM on request")
    add_config_args(p, json_output=True)
    p.add_argument("--reindex", action="store_true", help="rebuild every index (daemon stopped)")
    p.add_argument(
        "--vacuum",
        action="store_true",
        help="VACUUM files whose free pages exceed the threshold, after a fresh backup "
        "(daemon stopped)",
    )
    p.add_argument(
        "--vacuum-threshold",
        type=fraction,
        default=maintenance.VACUUM_FREELIST_FRACTION,
        metavar="FRACTION",
        help=f"free-page fraction (0 to below 1) above which to VACUUM "
        f"(default {maintenance.VACUUM_FREELIST_FRACTION})",
    )
    p.set_defaults(handler=cmd_maintain)


def _show(report: Report, as_json: bool) -> None:
    if as_json:
        print_json(report.data)
    else:
        print_mapping(report.human or report.data)


def cmd_init(args: argparse.Namespace) -> int:
    _show(backend_of(resolve_settings(args)).init(time.time()), args.json)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    report = backend_of(resolve_settings(args)).prune(time.time())
    data = report.data
    human = data | {"archived_until": iso(data["archived_until"])}
    _show(Report(data, human | {"seconds": f"{data['seconds']:.3f}"}), args.json)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    report = backend_of(settings).backup(
        args.dest or settings.backup_dir,
        time.time(),
        compress=settings.backup.compress and not args.no_compress,
        databases=tuple(dict.fromkeys(args.db)) if args.db else DATABASES,
    )
    rows: list[dict[str, Any]] = [
        {"database": f.db, "file": str(f.path), "bytes": f.bytes, "seconds": round(f.seconds, 3)}
        for f in report.files
    ]
    rows += [{"database": db, "file": None, "error": why} for db, why in report.failed.items()]
    if args.json:
        print_json(
            {
                "files": rows,
                "weekly": [str(p) for p in report.weekly],
                "removed": [str(p) for p in report.removed],
                "ok": report.ok,
            }
        )
    else:
        print(f"backups in {args.dest or settings.backup_dir}:")
        print_table(
            [
                r
                | {"size": human_bytes(r.get("bytes")), "name": r["file"] and Path(r["file"]).name}
                for r in rows
            ],
            (
                Column("database"),
                Column("name", "file"),
                Column("size"),
                Column("seconds", "seconds", fixed(3)),
            ),
        )
    if not report.ok:
        db, why = next(iter(report.failed.items()))
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise DatabaseError(f"backup of {db}.db failed{more}: {why}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    backend = backend_of(resolve_settings(args))
    report = backend.restore(args.file, args.db or infer_db(args.file), time.time())
    data = {
        "restored": str(report.target),
        "from": str(report.source),
        "schema_version": report.schema_version,
        "previous_kept_as": [str(p) for p in report.previous],
    }
    print_json(data) if args.json else print_mapping(data)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    data = backend_of(resolve_settings(args)).stats(time.time())
    if args.json:
        print_json(data)
    elif isinstance(data, dict):  # a server's figures
        print_mapping(_flat(data))
    else:
        _print_file_stats(data)
    return 0


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as `outer.inner` keys, for a `key: value` listing."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _print_file_stats(data: list[dict[str, Any]]) -> None:
    present = [d for d in data if d["exists"]]
    print_table(
        [
            {
                "database": d["database"],
                "file": human_bytes(d["file_bytes"]),
                "wal": human_bytes(d["wal_bytes"]),
                "pages": d["page_count"],
                "free_pages": d["freelist_count"],
                "free_%": 100 * d["freelist_fraction"],
                "schema": d["schema_version"],
                "indexes": len(d["indexes"]),
            }
            for d in present
        ],
        (
            Column("database"),
            Column("file", "file size"),
            Column("wal", "WAL size"),
            Column("pages"),
            Column("free_pages", "free pages"),
            Column("free_%", "free %", fixed(1)),
            Column("schema"),
            Column("indexes"),
        ),
    )
    print()
    print_table(
        [
            {"database": d["database"], "table": table, "rows": n}
            for d in present
            for table, n in d["rows"].items()
        ]
    )
    for d in present:
        if "ingestion" in d:
            ing = d["ingestion"]
            per_tick = ing["bytes_per_tick"]
            print()
            print_mapping(
                {
                    "ticks last minute": f"{ing['ticks_last_minute']} "
                    f"({ing['ticks_per_second_minute']:.1f}/s)",
                    "ticks last hour": f"{ing['ticks_last_hour']} "
                    f"({ing['ticks_per_second_hour']:.1f}/s)",
                    "bytes per stored tick": None if per_tick is None else f"{per_tick:.1f}",
                    "projected growth per day": human_bytes(ing["projected_growth_bytes_per_day"]),
                }
            )


def cmd_explain(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    check_statement(args.sql)
    plan, text = backend_of(settings).explain(args.sql, args.db)
    if args.json:
        print_json(plan)
    else:
        print(text)
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    results = backend_of(resolve_settings(args)).maintain(
        time.time(),
        reindex=args.reindex,
        vacuum=args.vacuum,
        vacuum_threshold=args.vacuum_threshold,
    )
    for r in results:
        r["seconds"] = round(r["seconds"], 3)
    emit(
        results,
        args.json,
        columns=(
            Column("database"),
            Column("step"),
            Column("seconds", "seconds", fixed(3)),
            Column("result"),
        ),
    )
    failed = [r for r in results if r["step"] == "check" and not r["result"].endswith(": ok")]
    if failed:
        names = ", ".join(f"{r['database']}.db" for r in failed)
        raise DatabaseError(f"integrity check failed for {names}: restore from a backup")
    return 0
