"""Run every benchmark part and print its table. `python -m bench [part ...]`."""

from __future__ import annotations

import importlib
import sys

# Each part module has `main() -> None` that prints its own table.
PARTS: tuple[str, ...] = ("layout", "ingest", "detector", "dbops")


def main(argv: list[str]) -> int:
    chosen = argv or list(PARTS)
    for part in chosen:
        print(f"\n=== bench: {part} ===", flush=True)
        importlib.import_module(f"bench.{part}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
