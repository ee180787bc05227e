"""Fake exchanges as processes (`python -m arbot.localmarket`, one per venue, so they do
not share the test's or the daemon's GIL), controlled over each fake's HTTP endpoints
(/_control/fault, /_control/counters)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from arbot.localmarket.dialects import ALIASES

# One seed for all: the walks move together, so only dislocations make spreads.
SEED = "1"
DISLOCATION = (
    "--dislocation-every",
    "4",
    "--dislocation-size",
    "0.006",
    "--dislocation-length",
    "1.5",
)


class FakeMarket:
    """Venues given as NAME:KIND (kind = binance|okx|kraken|rest). `urls[name]` is the base
    URL for url_override; faults and counters per venue name."""

    def __init__(self, venues: Sequence[str], rate: float, dislocate: Sequence[str] = ()) -> None:
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.urls: dict[str, str] = {}
        self.ccxt_ids: dict[str, str] = {}
        try:
            for i, venue in enumerate(venues):
                name, _, kind = venue.partition(":")
                self._start(name, kind or name, rate, 0.0001 * i, name in dislocate)
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, kind: str, rate: float, offset: float, dislocated: bool) -> None:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arbot.localmarket",
                "--kind",
                kind,
                "--rate",
                str(rate),
                "--seed",
                SEED,
                "--offset",
                str(offset),
                *(DISLOCATION if dislocated else ()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs[name] = proc
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "LOCALMARKET":
            raise RuntimeError(f"fake exchange {name} ({kind}) did not start: {line}")
        self.urls[name] = line[2]
        self.ccxt_ids[name] = ALIASES.get(kind, kind)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

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
