"""What every fake exchange's wire format implements (Dialect), and what it may ask of the
server publishing through it (Venue). Dialects import this module, never the server, so the
server can import the dialects at module level."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from arbot.localmarket.quotes import Quote

JsonBody = Callable[[web.Request], Any]


class Venue(Protocol):
    """The server side a dialect reads: listed symbols, the running update id, REST quotes."""

    seq: int

    @property
    def symbols(self) -> Sequence[str]: ...

    def quote_for_rest(self, symbol: str) -> Quote | None: ...


@dataclass(eq=False)
class WsConn:
    """One websocket client: what it subscribed to (dialect-specific keys)."""

    ws: web.WebSocketResponse
    request: web.Request
    subs: set[tuple[str, str]] = field(default_factory=set)  # (channel, symbol)


class Dialect:
    """One exchange's wire format. Subclasses add REST routes and shape websocket frames."""

    kind = ""
    ws_paths: tuple[str, ...] = ()
    stamps = True  # whether the quotes it sends carry event times
    heartbeat: float | None = None

    def __init__(self, server: Venue) -> None:
        self.server = server

    def market_id(self, symbol: str) -> str:
        raise NotImplementedError

    def routes(self) -> list[tuple[str, JsonBody]]:
        """(path, handler returning the JSON body) for GET routes."""
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        return {"error": f"status {status}"}

    def on_open(self, conn: WsConn) -> list[Any]:
        return []

    def on_message(self, conn: WsConn, text: str) -> list[Any]:
        """Frames (dicts or raw strings) to answer a client's text message with."""
        return []

    def frames(self, conn: WsConn, q: Quote) -> list[Any]:
        """Frames carrying `q` for this connection's subscriptions."""
        raise NotImplementedError

    def heartbeat_frame(self) -> Any:
        return None
