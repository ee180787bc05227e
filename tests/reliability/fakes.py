"""Fake exchanges in their own process (so they do not share a core's GIL with the test),
controlled over each fake's HTTP control endpoints (/_control/fault, /_control/counters).

Run: `python -m tests.reliability.fakes --rate 200 binance:binance kraken:kraken ...`
prints one JSON line {name: base URL} once every venue listens, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ("BTC/USDT", "ETH/USDT")


async def _serve(venues: Sequence[str], rate: float, dislocate: Sequence[str]) -> None:
    from arbot.localmarket import LocalExchange, RandomWalk

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for i, venue in enumerate(venues):
            name, _, kind = venue.partition(":")
            # One seed for all: the walks move together, so only dislocations make spreads.
            walk = RandomWalk(SYMBOLS, rate=rate, seed=1, offset=0.0001 * i)
            if name in dislocate:
                walk.dislocation_every, walk.dislocation_size = 4.0, 0.006
                walk.dislocation_length = 1.5
            ex = LocalExchange(kind=kind or name, source=walk)
            urls[name] = (await stack.enter_async_context(ex)).url
        print(json.dumps(urls), flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.fakes")
    parser.add_argument("venues", nargs="+", help="NAME:KIND, kind = binance|okx|kraken|rest")
    parser.add_argument("--rate", type=float, default=100.0, help="quotes/s per symbol")
    parser.add_argument("--dislocate", action="append", default=[], help="venue with spreads")
    args = parser.parse_args()
    asyncio.run(_serve(args.venues, args.rate, args.dislocate))


class FakeMarket:
    """The fakes process. `urls[name]` for url_override; faults and counters per venue."""

    def __init__(self, venues: Sequence[str], rate: float, dislocate: Sequence[str] = ()) -> None:
        extra = [a for name in dislocate for a in ("--dislocate", name)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.fakes", "--rate", str(rate), *extra, *venues],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"fake exchanges failed to start (exit {self.proc.returncode})")
        self.urls: dict[str, str] = json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FakeMarket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, venue: str, path: str, **query: str) -> Any:
        url = f"{self.urls[venue]}{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    def fault(self, name: str, switch: str, value: object = "on") -> None:
        """Turn on a fault switch of venue `name` (see arbot.localmarket.faults.Faults)."""
        self._get(name, "/_control/fault", name=switch, value=str(value))

    def drop(self, name: str) -> int:
        """Close every websocket of venue `name` now."""
        return int(self._get(name, "/_control/fault", name="drop")["dropped"])

    def clear(self, name: str) -> None:
        self._get(name, "/_control/fault", name="clear")

    def counters(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(name, "/_control/counters")
        return result

    def sent(self, name: str) -> int:
        """Valid quotes venue `name` has sent so far (websocket frames + REST answers)."""
        c = self.counters(name)
        return int(sum(c["sent"].values()) + sum(c["served"].values()))


if __name__ == "__main__":
    main()
