"""`arbot config list|get|set|unset`: runtime overrides of the TOML in config.db's
`settings` table (see overrides.py); the running daemon applies them on SIGHUP
(`systemctl reload arbot`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from arbot.cli.common import add_config_args
from arbot.cli.output import emit
from arbot.cli.owner import act_as_data_owner
from arbot.errors import EXIT_OK, ConfigError
from arbot.logs import is_secret
from arbot.overrides import (
    SOURCE,
    apply_overrides,
    parse_value,
    split_key,
    stored,
    value_at,
)
from arbot.reload import applies_live
from arbot.settings import (
    Settings,
    config_path,
    parse_settings,
    read_toml,
    with_data_dir_override,
)
from arbot.storage import settings_overrides
from arbot.storage.connection import Pragmas, require_databases
from arbot.storage.schema import open_database

HIDDEN = "***"


def register(groups: dict[str, Any]) -> None:
    config = groups["root"].add_parser(
        "config", help="runtime overrides of the config file (config.db settings)"
    )
    sub = config.add_subparsers(dest="config_command", metavar="CONFIG_COMMAND", required=True)
    p = sub.add_parser("list", help="every override, oldest first")
    add_config_args(p, json_output=True)
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("get", help="a key's effective value and where it comes from")
    add_config_args(p, json_output=True)
    p.add_argument("key", help="dotted key, e.g. detector.min_profit_percent")
    p.set_defaults(handler=cmd_get)
    p = sub.add_parser("set", help="override a key (validated like the config file)")
    add_config_args(p, json_output=True)
    p.add_argument("key", help="dotted key, e.g. exchanges.binance.taker_fee")
    p.add_argument("value", help="a TOML value: 0.2, true, '\"text\"', '[\"spot\"]'")
    p.set_defaults(handler=cmd_set)
    p = sub.add_parser("unset", help="remove an override (the config file's value applies)")
    add_config_args(p, json_output=True)
    p.add_argument("key")
    p.set_defaults(handler=cmd_unset)


class _Context:
    """The config file's document, its validated settings and the data directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.path = config_path(args.config)
        explicit = args.config or os.environ.get("ARBOT_CONFIG")
        self.file_read = bool(explicit) or self.path.exists()
        self.doc: dict[str, Any] = read_toml(self.path) if self.file_read else {}
        base = with_data_dir_override(parse_settings(self.doc, str(self.path)), args.data_dir)
        self.data_dir: Path = base.storage.data_dir
        require_databases(self.data_dir, "config")
        act_as_data_owner(self.data_dir)  # config.db must stay the service's
        self.pragmas = Pragmas.of(base.storage)
        self._data_dir_arg = args.data_dir

    def settings(self, overrides: list[tuple[str, Any]]) -> Settings:
        merged = apply_overrides(self.doc, overrides, str(self.path))
        return with_data_dir_override(merged, self._data_dir_arg)

    def write(self, action: str, category: str, key: str, value: Any = None) -> bool:
        conn = open_database(self.data_dir, "config", self.pragmas)
        try:
            if action == "put":
                settings_overrides.put(conn, category, key, value, type(value).__name__)
                return True
            return settings_overrides.delete(conn, category, key)
        finally:
            conn.close()


def _shown(path: str, value: Any) -> Any:
    return HIDDEN if is_secret(path.rsplit(".", 1)[-1]) else value


def cmd_list(args: argparse.Namespace) -> int:
    ctx = _Context(args)
    rows = [
        {"key": o.path, "value": _shown(o.path, o.value), "updated_at": o.updated_at}
        for o in stored(ctx.data_dir)
    ]
    emit(rows, args.json, columns=("key", "value", "updated_at"))
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    ctx = _Context(args)
    overrides = {o.path: o.value for o in stored(ctx.data_dir)}
    value = value_at(ctx.settings(list(overrides.items())), args.key)
    in_file = _in_document(ctx.doc, args.key)
    source = "override" if args.key in overrides else "file" if in_file else "default"
    emit({"key": args.key, "value": _shown(args.key, value), "source": source}, args.json)
    return EXIT_OK


def cmd_set(args: argparse.Namespace) -> int:
    ctx = _Context(args)
    category, key = split_key(args.key)
    if category.startswith("exchanges.") and not ctx.file_read:
        raise ConfigError(
            f"{args.key}: no config file was read ({ctx.path} does not exist), so no "
            "exchange is configured to override; give --config FILE"
        )
    value = parse_value(args.value)
    others = [(o.path, o.value) for o in stored(ctx.data_dir) if o.path != args.key]
    ctx.settings([*others, (args.key, value)])  # refuses an invalid value, naming the key
    ctx.write("put", category, key, value)
    shown = _shown(args.key, value)
    emit({"key": args.key, "value": shown, "applies": _applies(args.key)}, args.json)
    return EXIT_OK


def cmd_unset(args: argparse.Namespace) -> int:
    ctx = _Context(args)
    category, key = split_key(args.key)
    others = [(o.path, o.value) for o in stored(ctx.data_dir) if o.path != args.key]
    ctx.settings(others)  # the remaining overrides must still hold without this one
    if not ctx.write("delete", category, key):
        raise ConfigError(f"{SOURCE}: {args.key}: no override is set")
    emit({"key": args.key, "removed": True, "applies": _applies(args.key)}, args.json)
    return EXIT_OK


def _applies(key: str) -> str:
    """When the running daemon takes the change (reload.py decides what a reload applies)."""
    if applies_live(key) or key.startswith("exchanges."):
        return "at the daemon's next reload (systemctl reload arbot, or SIGHUP)"
    return "at the daemon's next start (systemctl restart arbot); a reload does not apply it"


def _in_document(doc: dict[str, Any], path: str) -> bool:
    parts = path.split(".")
    node: Any = doc
    if parts[0] == "exchanges":
        entries = [
            e for e in doc.get("exchanges", []) if (e.get("name") or e.get("id")) == parts[1]
        ]
        node, parts = (entries[0] if entries else {}), parts[2:]
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
