"""Run benchmark parts and print their tables. `python -m bench [part ...]`.

With several parts, each runs in its own process, so one part's memory (peak RSS is
reported) and heap state do not carry into the next."""

from __future__ import annotations

import importlib
import subprocess
import sys

from arbot.logs import configure

# Each part module has `main() -> None` that prints its own table.
PARTS: tuple[str, ...] = (
    "layout",
    "ingest",
    "detector",
    "depth",
    "dbops",
    "latency",
    "postgres",
    "capture",
    "end_to_end",
    "quote_cpu",
    "book_capture",
    "books",
)


def main(argv: list[str]) -> int:
    chosen = argv or list(PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        print(f"unknown bench part(s): {', '.join(unknown)}; parts: {', '.join(PARTS)}")
        return 2
    if len(chosen) == 1:
        # The parts print their tables; the daemon's own lines (expected retries while a
        # part locks arbot.db, feeds connecting) would only bury them.
        configure(level="error")
        print(f"\n=== bench: {chosen[0]} ===", flush=True)
        importlib.import_module(f"bench.{chosen[0]}").main()
        return 0
    for part in chosen:
        done = subprocess.run([sys.executable, "-m", "bench", part], check=False)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
