"""A fake exchange in its own process (`python -m arbot.localmarket`), so its sending does
not share a GIL with the client under test; controlled over its HTTP endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from arbot.localmarket.sentlog import expand


class FakeProcess:
    """One fake venue sending `rate` quotes/s per symbol, numbered (ask size = number).
    `sent()` is what it sent, by symbol: the numbers, in order."""

    def __init__(
        self,
        kind: str,
        symbols: Sequence[str],
        rate: float,
        seed: int = 0,
        extra: Sequence[str] = (),
    ) -> None:
        """`extra`: more command-line options of `python -m arbot.localmarket`."""
        self.kind = kind
        self.symbols = tuple(symbols)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arbot.localmarket",
                "--kind",
                kind,
                "--symbols",
                ",".join(symbols),
                "--rate",
                str(rate),
                "--seed",
                str(seed),
                "--number-sizes",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The fake's base URL, once it listens (start several, then ask: they start in
        parallel)."""
        if self._url is None:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().split()
            if len(line) != 3 or line[0] != "LOCALMARKET":
                raise RuntimeError(f"fake exchange {self.kind} did not start: {line}")
            self._url = line[2]
        return self._url

    def control(self, path: str, **query: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    def silence(self) -> None:
        """Stop sending (connections stay open), so `sent()` is final."""
        self.control("/_control/fault", name="silent", value="1")

    def book(self, symbol: str, update_id: int | None = None) -> Any:
        """The fake's order book of `symbol` (started if it was not): now, or right after
        update id `update_id` while it is retained."""
        query = {"symbol": symbol} | ({} if update_id is None else {"id": str(update_id)})
        return self.control("/_control/book", **query)

    def sent(self) -> dict[str, list[int]]:
        runs = self.control("/_control/counters")["sent_seq"]
        return {symbol: expand(r) for symbol, r in runs.items()}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
