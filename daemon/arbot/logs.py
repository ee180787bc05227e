"""structlog set up once: JSON lines off a TTY (journald, `tail -f | jq`), console on a TTY."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values never reach a log line (ccxt options may carry credentials).
_SECRET_KEY = re.compile(r"(api_?key|secret|password|passphrase|token|uid|private_?key)", re.I)
_REDACTED = "***"


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key):
            event[key] = _REDACTED
        elif isinstance(value, dict):
            event[key] = _redact_mapping(value)
    return event


def _redact_mapping(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (
            _REDACTED
            if _SECRET_KEY.search(str(k))
            else _redact_mapping(v)
            if isinstance(v, dict)
            else v
        )
        for k, v in value.items()
    }


class RateLimiter:
    """Drops repeats of one (event, exchange, error) within `window` seconds; the next line
    that passes carries `suppressed=N` so nothing is hidden silently."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}

    def __call__(
        self, _: Any, level: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if level not in ("warning", "error"):
            return event
        key = (str(event.get("event")), str(event.get("exchange", "")), str(event.get("error", "")))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.window:
            self._last[key] = (last[0], last[1] + 1)
            raise structlog.DropEvent
        if last is not None and last[1]:
            event["suppressed"] = last[1]
        self._last[key] = (now, 0)
        return event


def configure(fmt: str = "auto", level: str = "info") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            RateLimiter(),
            redact,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(**bind: Any) -> Any:
    return structlog.get_logger("arbot").bind(**bind)
