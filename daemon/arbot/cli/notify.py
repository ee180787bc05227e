"""`arbot notify list|test`: the [[notify]] targets with their URLs masked, and one test
message to each (or one) of them, saying per target whether it was delivered and, if not,
why (without the token)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from typing import Any

from arbot.cli.common import UsageError, add_config_args, resolve_settings
from arbot.cli.output import emit
from arbot.errors import EXIT_OK, ConfigError
from arbot.notify import messages
from arbot.notify.adapter import Channel
from arbot.notify.targets import Scrubber, Target, load_targets
from arbot.settings import Settings, config_path

LIST_COLUMNS = ("name", "urls", "source", "events", "filters", "format", "rate_limit")


def register(groups: dict[str, Any]) -> None:
    notify = groups["root"].add_parser("notify", help="the [[notify]] targets: list, test")
    sub = notify.add_subparsers(dest="notify_command", metavar="NOTIFY_COMMAND", required=True)
    p = sub.add_parser("list", help="the targets, their URLs masked, events and filters")
    add_config_args(p, json_output=True)
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("test", help="send one test message to each target; say which failed")
    add_config_args(p, json_output=True)
    p.add_argument("--target", help="only this target: its name, or its number in the file")
    p.set_defaults(handler=cmd_test)


def _targets(args: argparse.Namespace) -> tuple[Settings, tuple[Target, ...]]:
    """The daemon's targets, read as the data's owner would read them (under sudo)."""
    settings = resolve_settings(args)
    return settings, load_targets(settings.notify)


def _filters(target: Target) -> str:
    s = target.settings
    parts = [
        f"min {s.min_profit_percent:g} %" if s.min_profit_percent else "",
        f"min {s.min_profit_quote:g} quote" if s.min_profit_quote else "",
        f"symbols {'/'.join(s.symbols)}" if s.symbols else "",
        f"exchanges {'/'.join(s.exchanges)}" if s.exchanges else "",
    ]
    return ", ".join(p for p in parts if p) or "-"


def cmd_list(args: argparse.Namespace) -> int:
    _, targets = _targets(args)
    rows = [
        {
            "name": t.name,
            "urls": list(t.shown),
            "source": t.source,
            "events": list(t.settings.events),
            "filters": _filters(t),
            "format": t.settings.format,
            "rate_limit": t.settings.rate_limit,
        }
        for t in targets
    ]
    if not rows and not args.json:
        print(f"no [[notify]] targets in {config_path(args.config)}")
        return EXIT_OK
    emit(rows, args.json, columns=LIST_COLUMNS, wide=True)
    return EXIT_OK


def _pick(targets: tuple[Target, ...], wanted: str | None, source: str) -> tuple[Target, ...]:
    if not targets:
        raise UsageError(f"no [[notify]] targets in {source}: nothing to test")
    if wanted is None:
        return targets
    for number, target in enumerate(targets, 1):
        if wanted in (target.name, str(number)):
            return (target,)
    names = ", ".join(t.name for t in targets)
    raise UsageError(f"--target {wanted!r}: no such notify target (targets: {names})")


async def _send(target: Target, host: str) -> dict[str, Any]:
    scrub = Scrubber(target.urls)
    message = messages.test(target.name, host, target.settings.events, time.time())
    errors = []
    for url, shown in zip(target.urls, target.shown, strict=True):
        body = message.body(target.as_json)
        why = await Channel(url, scrub).send(message.title, body, message.level)
        if why is not None:
            errors.append(f"{shown}: {why}")
    result = "failed" if errors else "delivered"
    error = "; ".join(errors) or None
    return {"target": target.name, "result": result, "urls": list(target.shown), "error": error}


def cmd_test(args: argparse.Namespace) -> int:
    _, targets = _targets(args)
    chosen = _pick(targets, args.target, str(config_path(args.config)))
    host = socket.gethostname()

    async def send_all() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(_send(t, host) for t in chosen)))

    rows = asyncio.run(send_all())
    if args.json:
        emit(rows, True)
    else:
        for row in rows:
            why = f": {row['error']}" if row["error"] else ""
            print(f"{row['target']}: {row['result']}{why}")
    failed = [r["target"] for r in rows if r["result"] == "failed"]
    if failed:
        raise ConfigError(
            f"{len(failed)} of {len(rows)} notify targets failed ({', '.join(failed)}); check "
            "their URLs and services (arbot notify list)"
        )
    return EXIT_OK
