"""What every fake exchange's wire format implements (Dialect), and what it may ask of the
server publishing through it (Venue). Dialects import this module, never the server, so the
server can import the dialects at module level."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from arbot.localmarket.books import Book, BookUpdate, Snapshot
from arbot.localmarket.quotes import Quote

JsonBody = Callable[[web.Request], Any]


class Venue(Protocol):
    """The server side a dialect reads: listed symbols, the running update id, REST quotes,
    order books."""

    seq: int

    @property
    def symbols(self) -> Sequence[str]: ...

    def quote_for_rest(self, symbol: str) -> Quote | None: ...

    def book(self, symbol: str) -> Book:
        """The symbol's order book, started now if nothing asked for it before."""
        ...

    def book_for_rest(self, symbol: str) -> Snapshot: ...


@dataclass
class BookSub:
    """A client's subscription to one symbol's book on one channel: the depth it sees, and
    whether its snapshot is yet to be sent."""

    channel: str
    depth: int
    snapshot_due: bool = True


@dataclass(eq=False)
class WsConn:
    """One websocket client: what it subscribed to (dialect-specific keys)."""

    ws: web.WebSocketResponse
    request: web.Request
    subs: set[tuple[str, str]] = field(default_factory=set)  # (channel, symbol)
    # (channel, unified symbol) -> book subscription
    book_subs: dict[tuple[str, str], BookSub] = field(default_factory=dict)


class Dialect:
    """One exchange's wire format. Subclasses add REST routes and shape websocket frames."""

    kind = ""
    ws_paths: tuple[str, ...] = ()
    stamps = True  # whether the quotes it sends carry event times
    checksums = False  # whether its book updates carry checksums (the bad_checksum fault)
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

    def book_snapshot(self, conn: WsConn, sub: BookSub, book: Book) -> list[Any]:
        """Frames a book subscription starts with (sent before its first update)."""
        return []

    def book_update(
        self,
        conn: WsConn,
        sub: BookSub,
        book: Book,
        update: BookUpdate,
        corrupt: bool,
    ) -> list[Any]:
        """Frames carrying `update` (the book's latest) to one subscription; `corrupt`:
        with a wrong checksum."""
        return []

    def heartbeat_frame(self) -> Any:
        return None
