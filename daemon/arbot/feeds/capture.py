"""Every quote ccxt.pro parses for our watch call, taken as it arrives (see Capture)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

# A quote as ccxt parsed it (unified ticker dict) with the time it arrived.
Received = tuple[dict[str, Any], float]
# Quotes captured but not yet taken by the feed (it waits while the tick queue is full).
# Beyond this the oldest are dropped and counted: a stalled database must not grow memory
# (a ccxt ticker dict takes ~1.5 KB: ~15 MB per exchange at most).
CAPTURE_LIMIT = 10_000


class Capture:
    """Takes every quote ccxt parses for our watch call, as it arrives.

    ccxt.pro resolves a future per message hash and keeps only the latest quote per symbol
    until the next watch_* call: between two calls, quotes are overwritten. But every
    ccxt.pro exchange hands each parsed quote to `Client.resolve(result, message_hash)`
    from its message handler, whether or not a watch is waiting. So the watch methods' own
    message hashes are recorded (from `Exchange.watch` / `watch_multiple`, which every
    ccxt.pro watch method goes through) and each client's `resolve` is wrapped to copy the
    quotes resolved under those hashes into a buffer, in arrival order. Parsing stays
    ccxt's; nothing here knows an exchange's wire format. A client's broadcast `reject`
    (connection lost) is queued after the quotes that arrived before it. `arrived` is set
    while anything is queued."""

    def __init__(self, ex: Any, clock: Callable[[], float]) -> None:
        self.items: deque[Received | BaseException] = deque()
        self.arrived = asyncio.Event()
        self.dropped = 0  # quotes dropped at CAPTURE_LIMIT, not yet reported
        self.dropped_span = (0.0, 0.0)  # arrival times of the first and last dropped
        self._clock = clock
        self._hashes: set[str] = set()
        self._last: dict[Any, dict[str, Any]] = {}
        watch, watch_multiple, client = ex.watch, ex.watch_multiple, ex.client

        def watch_hook(url: str, message_hash: str, *args: Any, **kwargs: Any) -> Any:
            self._hashes.add(message_hash)
            return watch(url, message_hash, *args, **kwargs)

        def watch_multiple_hook(url: str, hashes: list[str], *args: Any, **kwargs: Any) -> Any:
            self._hashes.update(hashes)
            return watch_multiple(url, hashes, *args, **kwargs)

        def client_hook(url: str) -> Any:
            c = client(url)
            if getattr(c, "arbot_capture", None) is None:
                self._hook(c)
            return c

        ex.watch, ex.watch_multiple, ex.client = watch_hook, watch_multiple_hook, client_hook

    def _hook(self, c: Any) -> None:
        resolve, reject = c.resolve, c.reject
        hashes = self._hashes

        def resolve_hook(result: Any, message_hash: Any) -> Any:
            if message_hash in hashes:
                self._add(result)
            return resolve(result, message_hash)

        def reject_hook(result: Any, message_hash: Any = None) -> Any:
            if message_hash is None and c.arbot_capture and isinstance(result, Exception):
                # The first broadcast ends the connection; ccxt may repeat it while closing.
                c.arbot_capture = False
                self.items.append(result)
                self.arrived.set()
            return reject(result, message_hash)

        c.resolve, c.reject, c.arbot_capture = resolve_hook, reject_hook, True

    def _add(self, result: Any) -> None:
        if not isinstance(result, dict):
            return
        # One ticker, or {symbol: ticker} (e.g. OKX's tickers channel).
        tickers = [result] if "bid" in result else list(result.values())
        received = self._clock()
        for ticker in tickers:
            if not isinstance(ticker, dict) or "bid" not in ticker:
                continue
            symbol = ticker.get("symbol")
            # An exchange that resolves with its whole ticker cache repeats unchanged
            # tickers (the same objects): each is handed over once.
            if self._last.get(symbol) is ticker:
                continue
            self._last[symbol] = ticker
            if len(self.items) >= CAPTURE_LIMIT:
                self._drop_oldest()
            self.items.append((ticker, received))
            self.arrived.set()

    def _drop_oldest(self) -> None:
        old = self.items.popleft()
        if isinstance(old, BaseException):
            return
        at = old[1]
        self.dropped_span = (self.dropped_span[0] if self.dropped else at, at)
        self.dropped += 1

    def take(self) -> list[Received]:
        """The quotes captured so far, up to the first queued error, which is raised when
        it comes first."""
        items = self.items
        if items and isinstance(first := items[0], BaseException):
            items.popleft()
            if not items:
                self.arrived.clear()
            raise first
        out: list[Received] = []
        while items and not isinstance(items[0], BaseException):
            out.append(items.popleft())  # type: ignore[arg-type]
        if not items:
            self.arrived.clear()
        return out

    def forget(self, error: BaseException | None) -> None:
        """`error` was raised by the watch call itself: do not raise it a second time."""
        if error is not None and any(item is error for item in self.items):
            self.items = deque(item for item in self.items if item is not error)

    def detach(self, clients: Any) -> None:
        """Connections we close ourselves: their close is not an error to report."""
        for c in clients:
            c.arbot_capture = False
