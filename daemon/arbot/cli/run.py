"""`arbot run` (the daemon, e.g. under systemd) and `arbot demo` (offline, local exchanges)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from arbot import logs
from arbot.cli.common import add_config_args, listen_address, positive_float
from arbot.cli.owner import act_as_data_owner
from arbot.settings import config_path, load_settings


def register(groups: dict[str, Any]) -> None:
    run = groups["root"].add_parser(
        "run", help="run the daemon until SIGTERM/SIGINT (systemd: Type=notify)"
    )
    add_config_args(run)
    run.set_defaults(handler=cmd_run)

    demo = groups["root"].add_parser(
        "demo", help="run the daemon offline against built-in local exchanges"
    )
    demo.add_argument(
        "--data-dir", type=Path, default=Path("demo-data"), help="default: ./demo-data"
    )
    demo.add_argument("--duration", type=positive_float, help="stop after this many seconds")
    demo.add_argument(
        "--metrics-listen",
        type=listen_address,
        default="127.0.0.1:9108",
        help="HOST:PORT of /metrics and /healthz (default 127.0.0.1:9108)",
    )
    demo.add_argument(
        "--log-level", default="warning", choices=("debug", "info", "warning", "error")
    )
    demo.set_defaults(handler=cmd_demo)


def cmd_run(args: argparse.Namespace) -> int:
    # Imported here: the daemon's modules (aiohttp, feeds) would slow every other command.
    from arbot.app import run_daemon
    from arbot.overrides import load_runtime_settings
    from arbot.reload import Reloader
    from arbot.runner import run_until_signalled

    path = config_path(args.config)
    # Before config.db is opened for the overrides: nothing may be created as root.
    act_as_data_owner(load_settings(path, args.data_dir).storage.data_dir)
    settings = load_runtime_settings(path, args.data_dir)
    logs.configure(settings.logging.format, settings.logging.level)
    reloader = Reloader(lambda: load_runtime_settings(path, args.data_dir), settings)
    return run_until_signalled(
        lambda stop: run_daemon(settings, stop, reloader=reloader),
        settings.service.grace_timeout,
        reload=reloader.reload,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from arbot.demo import run_demo
    from arbot.runner import run_until_signalled

    logs.configure("auto", args.log_level)
    return run_until_signalled(
        lambda stop: run_demo(args.data_dir.resolve(), stop, args.duration, args.metrics_listen)
    )
