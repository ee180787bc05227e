"""structlog set up once: JSON lines off a TTY (journald, `tail -f | jq`), console on a TTY.

Under journald (stderr is the stream named by $JOURNAL_STREAM) every line is JSON with the
syslog priority prefix journald reads (`<4>{"event": ...}`), so `journalctl -p warning`
filters; the standard library's loggers (aiohttp, asyncio, warnings) go through the same
processors, so nothing written there is plain text."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

# Keys whose values never reach a log line (ccxt options may carry credentials).
_SECRET_KEY = re.compile(r"(api_?key|secret|password|passphrase|token|uid|private_?key)", re.I)
_REDACTED = "***"
# syslog(3) priorities, as journald reads them from a "<N>" line prefix (sd-daemon(3)).
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
_RANK = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def is_secret(key: str) -> bool:
    """A key whose value is a credential (api key, secret, password, ...)."""
    return _SECRET_KEY.search(key) is not None


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

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}

    def __call__(
        self, _: Any, level: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if level not in ("warning", "error", "exception", "critical"):
            return event
        key = (str(event.get("event")), str(event.get("exchange", "")), str(event.get("error", "")))
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.window:
            self._last[key] = (last[0], last[1] + 1)
            raise structlog.DropEvent
        if last is not None and last[1]:
            event["suppressed"] = last[1]
        self._last[key] = (now, 0)
        return event


class LevelFilter:
    """Drops events below a threshold that can change while the daemon runs (a reload):
    loggers bound earlier keep their wrapper class, so the level cannot live there."""

    def __init__(self, level: str) -> None:
        self.rank = _RANK[level]

    def __call__(
        self, _: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if _RANK.get(_level_name(method), 20) < self.rank:
            raise structlog.DropEvent
        return event


class JournalRenderer:
    """JSON with the syslog priority prefix: `<3>{"event": "daemon_failed", ...}`."""

    def __init__(self) -> None:
        self._json = structlog.processors.JSONRenderer()

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        priority = _PRIORITY.get(str(event.get("level", _level_name(method))), 6)
        line = self._json(logger, method, event)
        return f"<{priority}>{line.decode() if isinstance(line, bytes) else line}"


def _level_name(method: str) -> str:
    return {"exception": "error", "warn": "warning", "fatal": "critical"}.get(method, method)


def under_journald(environ: Mapping[str, str] = os.environ, stream: TextIO | None = None) -> bool:
    """True when `stream` (stderr) is the journal connection systemd set up: $JOURNAL_STREAM
    holds its device:inode, so a redirected stderr (`2>file`) is not mistaken for it."""
    value = environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(part) for part in value.split(":"))
        st = os.fstat((stream or sys.stderr).fileno())
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


_level_filter = LevelFilter("info")


def configure(fmt: str = "auto", level: str = "info", *, journald: bool | None = None) -> None:
    """Set up structlog and route the standard library's loggers through it. Under journald
    (detected unless `journald` is given) the format is JSON with priority prefixes."""
    stream = sys.stderr
    journal = under_journald(stream=stream) if journald is None else journald
    use_console = not journal and (fmt == "console" or (fmt == "auto" and stream.isatty()))
    renderer: Any = (
        JournalRenderer()
        if journal
        else structlog.dev.ConsoleRenderer()
        if use_console
        else structlog.processors.JSONRenderer()
    )
    set_level(level)
    shared: list[Any] = [
        structlog.processors.add_log_level,
        RateLimiter(),
        redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            _level_filter,
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    _route_stdlib(stream, renderer, shared)


def _route_stdlib(stream: TextIO, renderer: Any, shared: list[Any]) -> None:
    """Library loggers (aiohttp's request errors, asyncio's unretrieved exceptions, Python
    warnings) at warning and above, rendered like our own events."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)


def set_level(level: str) -> None:
    """Change the level of every logger at once (SIGHUP reload)."""
    _level_filter.rank = _RANK[level]


def print_error(message: str, exit_code: int, stream: TextIO | None = None) -> None:
    """The CLI's last word before exiting with an error: plain `arbot: error: ...` for a
    person, one JSON line with an error priority under journald (start-up errors included,
    before logging is configured)."""
    out = stream or sys.stderr
    if under_journald(stream=out):
        line = json.dumps(
            {"event": "arbot_error", "level": "error", "error": message, "exit_code": exit_code}
        )
        print(f"<{_PRIORITY['error']}>{line}", file=out, flush=True)
    else:
        print(f"arbot: error: {message}", file=out)


def error_chain(exc: BaseException, limit: int = 200) -> str | None:
    """The causes under `exc` (`raise ... from`), outermost first, each as "Type: message",
    joined by " <- ": the DNS failure, refused connection, TLS error or HTTP status behind a
    ccxt NetworkError. Causes whose text `exc` already shows are left out; None if none."""
    seen = str(exc)
    parts: list[str] = []
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while cause is not None and len(parts) < 5:
        text = str(cause)
        if text and text not in seen:
            parts.append(f"{type(cause).__name__}: {text[:limit]}")
            seen += text
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return " <- ".join(parts) or None


def get_logger(**bind: Any) -> Any:
    return structlog.get_logger("arbot").bind(**bind)
