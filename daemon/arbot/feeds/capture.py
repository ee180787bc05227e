"""Every quote ccxt.pro parses for our watch call, taken as it arrives (see Capture)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# A quote as ccxt parsed it (unified ticker dict), or the top of an order book (depth > 0:
# symbol, bids, asks as (price, amount) tuples, timestamp, nonce), with its arrival time.
Received = tuple[dict[str, Any], float]


@dataclass(frozen=True, slots=True)
class BookError:
    """ccxt dropped `symbol`'s book (a sequence gap, a bad checksum): its next watch call
    resubscribes and rebuilds it from a fresh snapshot."""

    symbol: str
    error: BaseException


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

    def __init__(
        self,
        ex: Any,
        clock: Callable[[], float],
        depth: int = 0,
        symbols: Iterable[str] = (),
    ) -> None:
        """With `depth` > 0 order books are taken (their best `depth` levels, each change
        that alters them) and a book's own rejection is queued as a BookError."""
        self.items: deque[Received | BookError | BaseException] = deque()
        self.arrived = asyncio.Event()
        self.dropped = 0  # quotes dropped at CAPTURE_LIMIT, not yet reported
        self.dropped_span = (0.0, 0.0)  # arrival times of the first and last dropped
        self._clock = clock
        self._hashes: set[str] = set()
        self._last: dict[Any, dict[str, Any]] = {}
        self._depth = depth
        self._symbols = tuple(symbols)
        self._books: dict[str, tuple[Any, Any]] = {}  # symbol -> last (bids, asks) taken
        # Errors already queued: a watch call that fails with one must not queue it again.
        self._queued_errors: deque[BaseException] = deque(maxlen=32)
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
                self.queue_error(result)
            elif (
                self._depth
                and c.arbot_capture  # not the per-hash echo of a broadcast
                and message_hash in hashes
                and isinstance(result, Exception)
            ):
                symbol = self._book_symbol(message_hash)
                if symbol is not None:
                    self._books.pop(symbol, None)  # the rebuilt book is handed over whole
                    self._queued_errors.append(result)
                    self.items.append(BookError(symbol, result))
                    self.arrived.set()
            return reject(result, message_hash)

        c.resolve, c.reject, c.arbot_capture = resolve_hook, reject_hook, True

    def queue_error(self, error: BaseException) -> None:
        """Queue an error that ends the connection (once, however often it is reported)."""
        if any(e is error for e in self._queued_errors):
            return
        self._queued_errors.append(error)
        self.items.append(error)
        self.arrived.set()

    def _book_symbol(self, message_hash: str) -> str | None:
        # Book message hashes end with the symbol ('orderbook::BTC/USDT', 'books:BTC/USDT').
        return next((s for s in self._symbols if message_hash.endswith(":" + s)), None)

    def _add_book(self, book: dict[str, Any]) -> None:
        """The book's best `depth` levels, copied now (ccxt goes on changing the object),
        when they differ from the last taken of its symbol."""
        depth = self._depth
        bids = tuple((level[0], level[1]) for level in book["bids"][:depth])
        asks = tuple((level[0], level[1]) for level in book["asks"][:depth])
        symbol = book.get("symbol")
        if not isinstance(symbol, str) or self._books.get(symbol) == (bids, asks):
            return
        self._books[symbol] = (bids, asks)
        raw = {
            "symbol": symbol,
            "bids": bids,
            "asks": asks,
            "timestamp": book.get("timestamp"),
            "nonce": book.get("nonce"),
        }
        if len(self.items) >= CAPTURE_LIMIT:
            self._drop_oldest()
        self.items.append((raw, self._clock()))
        self.arrived.set()

    def _add(self, result: Any) -> None:
        if not isinstance(result, dict):
            return
        if self._depth and "asks" in result and "bids" in result:
            self._add_book(result)
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
        if isinstance(old, BaseException | BookError):
            return
        at = old[1]
        self.dropped_span = (self.dropped_span[0] if self.dropped else at, at)
        self.dropped += 1

    def take(self) -> list[Received | BookError]:
        """The quotes (and book errors) captured so far, up to the first queued error, which
        is raised when it comes first."""
        items = self.items
        if items and isinstance(first := items[0], BaseException):
            items.popleft()
            if not items:
                self.arrived.clear()
            raise first
        out: list[Received | BookError] = []
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
        """Connections we close ourselves: their close is not an error to report; each book
        is handed over whole once rebuilt on the next connection."""
        for c in clients:
            c.arbot_capture = False
        self._books.clear()
