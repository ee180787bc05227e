"""`arbot db ...`: database set-up and operations."""

from __future__ import annotations

import argparse
from typing import Any

from arbot.cli.common import add_config_args, emit, resolve_settings
from arbot.storage.connection import Pragmas
from arbot.storage.schema import init_all


def register(groups: dict[str, Any]) -> None:
    p = groups["db"].add_parser("init", help="create or migrate the four database files (idempotent)")
    add_config_args(p, json_output=True)
    p.set_defaults(handler=cmd_init)


def pragmas_from(args: argparse.Namespace) -> Pragmas:
    s = resolve_settings(args).storage
    return Pragmas(s.cache_size_kib, s.busy_timeout_ms, s.wal_autocheckpoint_pages)


def cmd_init(args: argparse.Namespace) -> int:
    data_dir = resolve_settings(args).storage.data_dir
    versions = init_all(data_dir, pragmas_from(args))
    emit({"data_dir": str(data_dir), **{f"{k}.db": f"schema v{v}" for k, v in versions.items()}},
         args.json)
    return 0
