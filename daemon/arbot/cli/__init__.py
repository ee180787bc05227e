"""`arbot` command line: one module per command group, each registering its subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from arbot import logs
from arbot.cli.common import Parser
from arbot.errors import EXIT_OK, EXIT_USAGE, ArbotError
from arbot.version import version

# Modules that add subcommands; each has `register(groups)` where groups maps
# "root", "db" and "query" to argparse sub-parser collections.
COMMAND_MODULES = (
    "arbot.cli.run",
    "arbot.cli.db",
    "arbot.cli.query",
    "arbot.cli.replay",
    "arbot.cli.backtest",
    "arbot.cli.config",
    "arbot.cli.notify",
)


class _Version(argparse.Action):
    """argparse's `version` action, looking the version up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"arbot {version()}")
        parser.exit()


def build_parser() -> Parser:
    parser = Parser(
        prog="arbot", description="Crypto-arbitrage market-data daemon and database tools."
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    root = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    db = root.add_parser("db", help="database set-up and operations").add_subparsers(
        dest="db_command", metavar="DB_COMMAND", required=True
    )
    query = root.add_parser("query", help="analysis queries over the stored data").add_subparsers(
        dest="query_command", metavar="QUERY_COMMAND", required=True
    )
    groups = {"root": root, "db": db, "query": query}
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage error, --help or --version: argparse printed why
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.handler(args))
    except ArbotError as exc:
        logs.print_error(str(exc), exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_USAGE
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other CLI tools do.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
