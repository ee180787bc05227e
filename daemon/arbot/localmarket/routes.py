"""A LocalExchange's HTTP side: the venue's REST routes as its dialect answers them (or as
an HTTP fault replaces the answer), and the `/_control/*` routes that switch faults, read
the counters and show a book."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from arbot.localmarket.dialect import JsonBody

if TYPE_CHECKING:  # the server imports this module
    from arbot.localmarket.server import LocalExchange

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def rest(ex: LocalExchange, body: JsonBody) -> Handler:
    """The handler of one REST route whose answer is `body(request)`."""

    async def handler(request: web.Request) -> web.StreamResponse:
        ex.requests[request.path] += 1
        f = ex.faults
        if f.http_status is not None:
            ex.http_faults += 1
            headers = {} if f.retry_after is None else {"Retry-After": f"{f.retry_after:g}"}
            if f.http_status >= 500:  # what a load balancer in front says
                return web.Response(
                    status=f.http_status,
                    headers=headers,
                    content_type="text/html",
                    text=f"<html><h1>{f.http_status} Service Unavailable</h1></html>",
                )
            return web.json_response(
                ex.dialect.error_body(f.http_status), status=f.http_status, headers=headers
            )
        if f.html:
            return web.Response(
                text="<html><body><h1>Maintenance</h1></body></html>", content_type="text/html"
            )
        try:
            data = body(request)
        except (LookupError, ValueError) as exc:  # unknown symbol, unparsable parameter
            return web.json_response(ex.dialect.error_body(400) | {"detail": str(exc)}, status=400)
        text = json.dumps(data, separators=(",", ":"))
        if f.malformed:
            text = text[: len(text) // 2]
        return web.Response(text=text, content_type="application/json")

    return handler


def add_control_routes(app: web.Application, ex: LocalExchange) -> None:
    async def fault(request: web.Request) -> web.Response:
        return await _fault(ex, request)

    async def counters(request: web.Request) -> web.Response:
        return web.json_response(ex.counters())

    async def book(request: web.Request) -> web.Response:
        return _book(ex, request)

    app.router.add_get("/_control/fault", fault)
    app.router.add_post("/_control/fault", fault)
    app.router.add_get("/_control/counters", counters)
    app.router.add_get("/_control/book", book)


async def _fault(ex: LocalExchange, request: web.Request) -> web.Response:
    """`?name=N[&value=V]`: switch a fault (faults.py), `clear` them all, `drop` the
    websockets (`value=hard`: reset), or `sequence_reset` the update ids."""
    name = request.query.get("name", "")
    value = request.query.get("value")
    try:
        if name == "drop":
            dropped = await ex.drop_connections(hard=value == "hard")
            return web.json_response({"dropped": dropped})
        if name == "sequence_reset":
            # The venue's update ids start again, as after an exchange-side restart.
            ex.seq = 0
            return web.json_response({"seq": 0})
        if name == "clear":
            ex.faults.clear()
        else:
            ex.faults.set(name, value)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"faults": vars(ex.faults)})


def _book(ex: LocalExchange, request: web.Request) -> web.Response:
    """`?symbol=BTC/USDT[&id=N][&depth=D]`: the book now, or right after update id N
    (while retained), as decimal strings, best first."""
    try:
        book = ex.book(request.query.get("symbol", ""))
        update_id, depth = request.query.get("id"), request.query.get("depth")
        snap = book.snapshot() if update_id is None else book.at(int(update_id))
        return web.json_response(snap.text(None if depth is None else int(depth)))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except LookupError as exc:
        return web.json_response({"error": str(exc)}, status=404)
