"""Daemon TOML for the tests: the fakes as exchanges (url_override), short timeouts and
backoff, small batches, metrics on a free port, JSON logs."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BATCH_SIZE = 500
GRACE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(doc: Mapping[str, Any]) -> str:
    """Tables of scalars, plus `exchanges` as an array of tables (enough for our configs)."""
    out: list[str] = []
    for section, body in doc.items():
        if section == "exchanges":
            for ex in body:
                out.append("[[exchanges]]")
                out += [f"{k} = {_value(v)}" for k, v in ex.items()]
                out.append("")
            continue
        out.append(f"[{section}]")
        out += [f"{k} = {_value(v)}" for k, v in body.items()]
        out.append("")
    return "\n".join(out)


def exchange(
    name: str, kind: str, url: str, symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"), **extra: Any
) -> dict[str, Any]:
    """One [[exchanges]] entry pointing ccxt id `kind` at a fake's base URL."""
    return {
        "id": kind,
        "name": name,
        "symbols": list(symbols),
        "url_override": url,
        "watch_timeout": 2.0,
        "poll_interval": 0.2,
        # No rate limiter against a local server; spot markets only (fewer start-up calls).
        "ccxt_config": {"enableRateLimit": False},
        "ccxt_options": {"fetchMarkets": {"types": ["spot"]}},
        **extra,
    }


def daemon_doc(
    data_dir: Path,
    exchanges: Sequence[Mapping[str, Any]],
    metrics_port: int,
    **sections: Mapping[str, Any],
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "storage": {
            "data_dir": str(data_dir),
            "batch_size": BATCH_SIZE,
            "linger_ms": 100,
            "queue_size": 20_000,
            "busy_timeout_ms": 1000,
            "retry_max_seconds": 1.0,
        },
        "metrics": {"listen": f"127.0.0.1:{metrics_port}", "healthy_after": 30.0},
        "logging": {"format": "json", "level": "info"},
        "retention": {"enabled": False},
        "backup": {"enabled": False},
        "service": {"grace_timeout": GRACE},
        "exchanges": list(exchanges),
    }
    for name, body in sections.items():
        doc[name] = {**doc.get(name, {}), **body}
    return doc


def write_config(path: Path, doc: Mapping[str, Any]) -> Path:
    path.write_text(to_toml(doc), encoding="utf-8")
    return path
