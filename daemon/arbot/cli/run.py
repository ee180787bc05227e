"""`arbot run` (the daemon, e.g. under systemd) and `arbot demo` (offline, local exchanges)."""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from typing import Any

from arbot import logs
from arbot.cli.common import (
    UsageError,
    add_config_args,
    listen_address,
    positive_float,
    positive_int,
    resolve_settings,
)
from arbot.cli.owner import act_as_data_owner
from arbot.errors import EXIT_OK, ArbotError, ConfigError, DatabaseError
from arbot.reload import read_verdict
from arbot.settings import config_path, load_settings
from arbot.storage.lockfile import lock_holder

# In the data dir: the outcome of the daemon's last reload (reload.py), for `arbot reload`.
VERDICTS = "reload.json"


def register(groups: dict[str, Any]) -> None:
    run = groups["root"].add_parser(
        "run", help="run the daemon until SIGTERM/SIGINT (systemd: Type=notify)"
    )
    add_config_args(run)
    run.set_defaults(handler=cmd_run)

    reload = groups["root"].add_parser(
        "reload",
        help="make the running daemon re-read its configuration and say whether it took it "
        "(what systemctl reload runs)",
    )
    add_config_args(reload)
    reload.add_argument(
        "--pid", type=positive_int, help="the daemon's pid (systemd: $MAINPID; default: "
        "the one holding the data dir's lock)"
    )  # fmt: skip
    reload.add_argument(
        "--timeout", type=positive_float, default=60.0, help="seconds to wait (default 60)"
    )
    reload.set_defaults(handler=cmd_reload)

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
    reloader = Reloader(
        lambda: load_runtime_settings(path, args.data_dir),
        settings,
        settings.storage.data_dir / VERDICTS,
    )
    return run_until_signalled(
        lambda stop: run_daemon(settings, stop, reloader=reloader),
        settings.service.grace_timeout,
        reload=reloader.reload,
    )


def cmd_reload(args: argparse.Namespace) -> int:
    """SIGHUP, then the daemon's verdict on the reload that started after it: 0 applied,
    3 refused (the configuration error), 1 no verdict in time."""
    data_dir = resolve_settings(args).storage.data_dir
    pid = args.pid or _lock_holder(data_dir)
    path = data_dir / VERDICTS
    asked = time.time()
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise UsageError(f"--pid {pid}: no such process") from None
    except PermissionError:
        raise UsageError(
            f"--pid {pid}: not this user's process; run as the daemon's user"
        ) from None
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        verdict = read_verdict(path)
        if verdict and verdict.get("pid") == pid and verdict.get("started", 0.0) >= asked:
            if not verdict.get("ok"):
                raise ConfigError(
                    f"reload refused, running configuration kept: {verdict.get('error')}"
                )
            restart = verdict.get("restart_required") or []
            later = f"; needs a restart: {', '.join(restart)}" if restart else ""
            print(f"arbot: reload applied (pid {pid}){later}")
            return EXIT_OK
        time.sleep(0.05)
    raise ArbotError(f"pid {pid} gave no reload verdict in {args.timeout:g} s; see its log")


def _lock_holder(data_dir: Path) -> int:
    pid = lock_holder(data_dir)
    if pid is None:
        raise DatabaseError(
            f"{data_dir}: no daemon holds this data dir's lock; is it running with this data "
            "dir? (or give --pid)"
        )
    return pid


def cmd_demo(args: argparse.Namespace) -> int:
    from arbot.demo import check_free, run_demo
    from arbot.runner import run_until_signalled

    logs.configure("auto", args.log_level)
    check_free(args.data_dir.resolve(), args.metrics_listen)
    return run_until_signalled(
        lambda stop: run_demo(args.data_dir.resolve(), stop, args.duration, args.metrics_listen)
    )
