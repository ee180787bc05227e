"""A LocalExchange's websocket clients: accepted (or refused, by a fault), sent each quote's
frames and their books' frames as the dialect shapes them, kept alive by heartbeats, and
disconnected when they lag too far behind."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from arbot.localmarket.books import Book, BookUpdate
from arbot.localmarket.dialect import WsConn
from arbot.localmarket.quotes import Quote

if TYPE_CHECKING:  # the server imports this module
    from arbot.localmarket.server import LocalExchange

# Bytes a websocket client may lag behind (unsent in its socket buffer) before it is
# disconnected, as exchanges drop slow consumers. Up to there sending never waits for it,
# so one slow client neither slows the pace of the quotes nor the other clients.
SLOW_CLIENT_BYTES = 4 * 1024 * 1024


async def serve(ex: LocalExchange, request: web.Request) -> web.StreamResponse:
    """One websocket client, from its upgrade to its disconnect."""
    f = ex.faults
    if f.ws_reject is not None:
        ex.ws_rejected += 1
        headers = {} if f.retry_after is None else {"Retry-After": f"{f.retry_after:g}"}
        return web.Response(status=f.ws_reject, text="unavailable", headers=headers)
    # No permessage-deflate: the venues we fake do not compress their frames either.
    ws = web.WebSocketResponse(autoping=True, compress=False)
    await ws.prepare(request)
    if request.transport is not None:
        # Sending waits only beyond this; too_slow disconnects before.
        request.transport.set_write_buffer_limits(high=2 * SLOW_CLIENT_BYTES)
    ex.ws_accepted += 1
    conn = WsConn(ws, request)
    ex.conns.add(conn)
    try:
        for frame in ex.dialect.on_open(conn):
            await send(ex, conn, frame)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            for frame in ex.dialect.on_message(conn, msg.data):
                # Silence covers data and acks; text pongs still answer (the OKX case).
                if not ex.faults.silent or isinstance(frame, str):
                    await send(ex, conn, frame)
    finally:
        ex.conns.discard(conn)
    return ws


async def publish(ex: LocalExchange, q: Quote) -> None:
    """Send the quote to every client subscribed to it, with its book's update (or a due
    snapshot) to the book's subscribers; faults change what is sent."""
    if ex.faults.silent:
        return
    number = ex.sent_log.next(q.symbol)
    if ex.number_sizes:
        q = q._replace(ask_size=float(number))
    valid = ex.valid(q)
    sent = ex.faults.apply(q)
    # The book follows the clean quote: quote faults corrupt what is sent, not the venue.
    book = ex.books.get(q.symbol)
    update = None if book is None else book.step(q)
    withheld = corrupt = False
    if update is not None:
        ex.book_updates[q.symbol] += 1
        withheld = ex.faults.take("book_gap")
        corrupt = not withheld and ex.dialect.checksums and ex.faults.take("bad_checksum")
        if withheld:
            ex.book_withheld[q.symbol] += 1
        if corrupt:
            ex.book_corrupted[q.symbol] += 1
    for conn in list(ex.conns):
        if too_slow(ex, conn):
            continue
        for frame in ex.dialect.frames(conn, sent):
            if await send(ex, conn, frame):
                if valid:
                    ex.sent[q.symbol] += 1
                    ex.sent_log.sent(q.symbol, number)
                else:
                    ex.sent_invalid[q.symbol] += 1
        if book is not None and conn.book_subs:
            await _send_book(ex, conn, book, None if withheld else update, corrupt)
    ex.seq += 1


async def heartbeats(ex: LocalExchange, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        if not ex.faults.silent:
            for conn in list(ex.conns):
                await send(ex, conn, ex.dialect.heartbeat_frame())


async def send(ex: LocalExchange, conn: WsConn, frame: Any) -> bool:
    """Whether the frame went out; a client that cannot take it any more is forgotten."""
    text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
    if ex.faults.malformed and not isinstance(frame, str):
        text = text[: len(text) // 2]
    try:
        await conn.ws.send_str(text)
    except (ConnectionError, RuntimeError):
        ex.conns.discard(conn)
        return False
    return True


async def _send_book(
    ex: LocalExchange, conn: WsConn, book: Book, update: BookUpdate | None, corrupt: bool
) -> None:
    """A due snapshot, else the update, to each of conn's subscriptions to this book.
    Snapshots go out from the pump, as updates do, so a client's snapshot comes before
    its updates and already holds the update of its round."""
    for (_, symbol), sub in list(conn.book_subs.items()):
        if symbol != book.symbol:
            continue
        if sub.snapshot_due:
            sub.snapshot_due = False
            frames = ex.dialect.book_snapshot(conn, sub, book)
            counter = ex.book_snapshots
        elif update is not None:
            frames = ex.dialect.book_update(conn, sub, book, update, corrupt)
            counter = ex.book_sent
        else:
            continue
        for frame in frames:
            if await send(ex, conn, frame):
                counter[symbol] += 1


def too_slow(ex: LocalExchange, conn: WsConn) -> bool:
    transport = conn.request.transport
    if transport is None or transport.get_write_buffer_size() <= SLOW_CLIENT_BYTES:
        return False
    ex.slow_disconnects += 1
    ex.conns.discard(conn)
    transport.abort()
    return True
