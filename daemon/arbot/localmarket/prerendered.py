"""A fake exchange's cheap sending mode (`--prerendered`), for measuring a client near its
limit: each (connection, symbol)'s frame is rendered once a second through the dialect,
and each quote only patches its number into it (the ask size, as `--number-sizes`
does); due quotes go out in bursts every few milliseconds rather than one sleep each.
Prices and event times move once a second; quote faults other than silence are not
applied. The fake then costs a few µs a quote, not the tens the full path does."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

from arbot.localmarket.dialect import WsConn
from arbot.localmarket.quotes import RandomWalk
from arbot.localmarket.websocket import send, too_slow

if TYPE_CHECKING:  # the server imports this module
    from arbot.localmarket.server import LocalExchange

MARK = 123456789  # the ask size frames are rendered with: where a quote's number goes
BURST_EVERY = 0.005  # seconds between bursts of due quotes
RENDER_EVERY = 1.0  # seconds a rendering (its prices and event time) is reused


class Prerendered:
    def __init__(self, ex: LocalExchange) -> None:
        if not isinstance(ex.source, RandomWalk):
            raise ValueError("prerendered frames need the synthetic price source")
        self.ex = ex
        self.walk = ex.source
        self._frames: dict[tuple[WsConn, str, int], list[tuple[str, str]]] = {}
        self._rendered_at = 0.0

    def frames(self, conn: WsConn, symbol: str, now: float) -> list[tuple[str, str]]:
        """(before, after) the number of each frame carrying `symbol` to `conn`."""
        if now - self._rendered_at >= RENDER_EVERY:
            self._frames.clear()
            self._rendered_at = now
        # A new subscription changes what the connection is sent: a key of its own.
        key = (conn, symbol, len(conn.subs))
        parts = self._frames.get(key)
        if parts is None:
            q = self.walk.step(symbol, now)._replace(ask_size=float(MARK))
            self.ex.latest[symbol] = q
            parts = self._frames[key] = []
            for frame in self.ex.dialect.frames(conn, q):
                text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
                before, mark, after = text.partition(str(MARK))
                if not mark or str(MARK) in after:
                    raise ValueError(f"{self.ex.kind}: the ask size is not once in {text}")
                parts.append((before, after))
        return parts

    async def pump(self) -> None:
        """Send `rate` quotes/s per symbol, round robin, numbered per symbol."""
        ex, symbols = self.ex, self.walk.symbols
        loop = asyncio.get_running_loop()
        start, done = loop.time(), 0
        while True:
            await asyncio.sleep(BURST_EVERY)
            due = int((loop.time() - start) * self.walk.rate * len(symbols))
            if ex.faults.silent:  # what falls due while silent is never sent
                done = due
                continue
            now = time.time()
            while done < due:
                symbol = symbols[done % len(symbols)]
                done += 1
                number = ex.sent_log.next(symbol)
                for conn in list(ex.conns):
                    if too_slow(ex, conn):
                        continue
                    for before, after in self.frames(conn, symbol, now):
                        if await send(ex, conn, f"{before}{number}{after}"):
                            ex.sent[symbol] += 1
                            ex.sent_log.sent(symbol, number)
