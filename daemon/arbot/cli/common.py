"""Shared CLI plumbing: settings resolution, --json output and plain tables."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arbot.settings import Settings, config_path, load_settings


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
    existing), else defaults; --data-dir and ARBOT_DATA_DIR override the data directory."""
    path = config_path(getattr(args, "config", None))
    explicit = getattr(args, "config", None) or os.environ.get("ARBOT_CONFIG")
    if explicit or path.exists():
        return load_settings(path, getattr(args, "data_dir", None))
    settings = Settings()
    override = getattr(args, "data_dir", None) or (
        Path(env) if (env := os.environ.get("ARBOT_DATA_DIR")) else None
    )
    return settings.with_data_dir(override) if override else settings


def emit(data: Any, as_json: bool, *, columns: Sequence[str] | None = None) -> None:
    """Print `data` as JSON, or as a table (list of mappings) / key-value lines (mapping)."""
    if as_json:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    if isinstance(data, Mapping):
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            print(f"{str(key).ljust(width)}  {_fmt(value)}")
        return
    rows = list(data)
    if not rows:
        print("(no rows)")
        return
    cols = list(columns or rows[0].keys())
    cells = [[_fmt(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.8g}"
    return str(value)
