"""`arbot` command line: one module per command group, each registering its subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from arbot.cli import db
from arbot.errors import EXIT_USAGE, ArbotError

GROUPS = (db,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arbot", description="Crypto-arbitrage market-data daemon and database tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ArbotError as exc:
        print(f"arbot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
