"""Runtime overrides of the TOML, kept in config.db's `settings` table (`arbot config set`).

A key is a dotted path into the settings: `detector.min_profit_percent`, `logging.level`,
`exchanges.binance.taker_fee` (an exchange by its name). A value is written as in TOML
(`0.2`, `true`, `["spot"]`, `"debug"`; a bare word is a string). Precedence: the TOML
file, then the overrides in the order they were set; every step is validated by the same
settings model, so an error names the override's key."""

from __future__ import annotations

import copy
import sqlite3
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from arbot.errors import ConfigError, DatabaseError
from arbot.settings import Settings, parse_settings, read_toml, with_data_dir_override
from arbot.storage import settings_overrides
from arbot.storage.connection import connect
from arbot.storage.settings_overrides import StoredOverride

SOURCE = "config.db settings"
# config.db lives in the data directory: it cannot say where the data directory is.
NOT_OVERRIDABLE = frozenset({"storage.data_dir"})


def parse_value(text: str) -> Any:
    """A TOML value (`0.2`, `true`, `[1, 2]`, `"x"`), else the text itself as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_key(path: str) -> tuple[str, str]:
    """(category, key) as stored: ("detector", "min_profit_percent"),
    ("exchanges.binance", "taker_fee")."""
    parts = path.split(".")
    n = 2 if parts[0] == "exchanges" else 1
    if len(parts) <= n or not all(parts):
        raise ConfigError(
            f"{SOURCE}: {path}: not a settings key like detector.min_profit_percent "
            "or exchanges.NAME.taker_fee"
        )
    if path in NOT_OVERRIDABLE:
        raise ConfigError(f"{SOURCE}: {path}: cannot be overridden; set it in the config file")
    return ".".join(parts[:n]), ".".join(parts[n:])


def _exchange_entry(doc: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    for entry in doc.get("exchanges", []):
        if isinstance(entry, dict) and (entry.get("name") or entry.get("id")) == name:
            return entry
    raise ConfigError(f"{SOURCE}: {path}: no exchange named {name!r} in the config file")


def _apply(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    split_key(path)
    doc = copy.deepcopy(doc)
    parts = path.split(".")
    node = doc
    if parts[0] == "exchanges":
        node, parts = _exchange_entry(doc, parts[1], path), parts[2:]
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{SOURCE}: {path}: {part} is not a table")
        node = child
    node[parts[-1]] = value
    return doc


def apply_overrides(
    doc: dict[str, Any], overrides: Iterable[tuple[str, Any]], source: str
) -> Settings:
    """Validate the TOML document (errors name `source`), then each override on top of it
    (errors name the override)."""
    settings = parse_settings(doc, source)
    for path, value in overrides:
        doc = _apply(doc, path, value)
        settings = parse_settings(doc, f"{SOURCE} (override {path})")
    return settings


def value_at(settings: Settings, path: str) -> Any:
    """The value of a dotted key in validated settings (exchanges by name)."""
    split_key(path)
    data = settings.model_dump(mode="json")
    data["exchanges"] = {e["name"]: e for e in data["exchanges"]}
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{path}: no such settings key")
        node = node[part]
    return node


def stored(data_dir: Path) -> list[StoredOverride]:
    """The overrides in data_dir/config.db; none when the file does not exist yet."""
    path = data_dir / "config.db"
    if not path.exists():
        return []
    conn = connect(path, readonly=True)
    try:
        return settings_overrides.read_all(conn)
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path}: cannot read the settings overrides: {exc}") from None
    finally:
        conn.close()


def load_runtime_settings(path: Path, data_dir: Path | None = None) -> Settings:
    """The daemon's settings: the TOML at `path`, then config.db's overrides; the data
    directory from `data_dir` or ARBOT_DATA_DIR when given."""
    doc = read_toml(path)
    base = with_data_dir_override(parse_settings(doc, str(path)), data_dir)
    rows = stored(base.storage.data_dir)
    if not rows:
        return base
    merged = apply_overrides(doc, [(r.path, r.value) for r in rows], str(path))
    return with_data_dir_override(merged, data_dir)
