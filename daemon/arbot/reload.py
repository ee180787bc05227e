"""SIGHUP: re-read the TOML and config.db's overrides, validate them as at start-up, apply
what can change while running and name what needs a restart. A bad configuration keeps the
running one and logs one error line; nothing here can stop the daemon."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from arbot import logs
from arbot.errors import ArbotError
from arbot.settings import ExchangeSettings, Settings

# A hook gets the new settings and returns the keys it applied while running.
OnReload = Callable[[Settings], Iterable[str]]


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _leaves(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    data["exchanges"] = {e["name"]: e for e in data["exchanges"]}
    out: dict[str, Any] = {}
    _flatten(data, "", out)
    return out


# Settings applied while running; exchanges are handled feed by feed.
_LIVE_PREFIXES = ("detector.", "paper.", "logging.level")
_RESTART_KEYS = ("detector.quote_groups", "detector.enabled", "paper.enabled", "paper.balances")
# An exchange's fields that only re-price (the engine's parameters): changing them keeps its
# feed running (no reconnect, no gap).
_PRICING = {
    "arbitrage_enabled",
    "maker_fee",
    "taker_fee",
    "region",
    "premium_baseline",
    "min_trade_amount",
    "max_trade_amount",
}


def applies_live(key: str) -> bool:
    """Whether a changed dotted key takes effect on reload (else it needs a restart)."""
    return key.startswith(_LIVE_PREFIXES) and not key.startswith(_RESTART_KEYS)


def feed_changed(old: ExchangeSettings | None, new: ExchangeSettings | None) -> bool:
    """Whether an exchange's feed must restart: added, removed, or a field it uses."""
    if old is None or new is None:
        return old is not new
    return old.model_dump(exclude=_PRICING) != new.model_dump(exclude=_PRICING)


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """Dotted keys whose value differs (`detector.min_profit_percent`,
    `exchanges.okx.taker_fee`; an exchange added or removed shows as all its keys)."""
    a, b = _leaves(old), _leaves(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, ...) != b.get(k, ...))


class Reloader:
    """Holds the running configuration; `reload()` (on SIGHUP) loads a new one with `load`
    and hands it to the hooks, after applying the log level itself."""

    def __init__(
        self, load: Callable[[], Settings], current: Settings, verdicts: Path | None = None
    ) -> None:
        """`verdicts`: a file each reload's outcome is written to, for `arbot reload` (what
        systemctl reload runs) to report."""
        self.current = current
        self._load = load
        self._verdicts = verdicts
        self.hooks: list[OnReload] = []
        self._log = logs.get_logger(component="reload")

    async def reload(self) -> None:
        started = time.time()
        self._log.info("reload_requested")
        try:
            new = await asyncio.to_thread(self._load)
        except ArbotError as exc:
            self._log.error("reload_failed", error=str(exc), kept="running configuration")
            self._verdict(started, {"ok": False, "error": str(exc)})
            return
        restart = self.apply(new)
        self._verdict(started, {"ok": True, "restart_required": restart})

    def _verdict(self, started: float, outcome: dict[str, Any]) -> None:
        if self._verdicts is None:
            return
        record = {"pid": os.getpid(), "started": started, **outcome}
        try:
            write_verdict(self._verdicts, record)
        except OSError as exc:  # the reload itself is done; only its report is lost
            self._log.warning("reload_verdict_not_written", error=str(exc))

    def apply(self, new: Settings) -> list[str]:
        """Apply `new`; return the changed keys that need a restart (also logged)."""
        changed = changed_keys(self.current, new)
        applied: set[str] = set()
        if new.logging.level != self.current.logging.level:
            logs.set_level(new.logging.level)
            applied.add("logging.level")
        for hook in self.hooks:
            try:
                applied.update(hook(new))
            except Exception:  # a bug in a hook must not end the daemon: log it, go on
                self._log.exception("reload_hook_failed", hook=getattr(hook, "__name__", "?"))
        restart = [k for k in changed if k not in applied]
        self._log.info(
            "config_reloaded",
            changed=changed,
            applied=sorted(applied.intersection(changed)),
            restart_required=restart,
        )
        self.current = new
        return restart


def write_verdict(path: Path, record: dict[str, Any]) -> None:
    """Replace `path` atomically: a reader sees the previous verdict or this one."""
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(json.dumps(record), encoding="utf-8")
    part.replace(path)


def read_verdict(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
