"""The connections of the metrics endpoint (metrics_server.py), each wrapping aiohttp's
handler: a served one notes when it was last active and whether a request has arrived or
is being answered, which decides whether it may be evicted for a newcomer; one beyond the
cap is a refusal, answered 503 and closed."""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from collections.abc import Callable
from typing import cast

# A request head that has arrived reaches its handler within a loop iteration or two; after
# this long, what looked like one was part of a body and no longer protects the connection.
_HANDOFF = 1.0

_BUSY_BODY = b"too many connections; retry later\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


class _HeadEnd:
    """Spots the blank line that ends a request head, across reads; after one, it starts
    afresh for the next request."""

    def __init__(self) -> None:
        self._tail = b""

    def seen_in(self, data: bytes) -> bool:
        window = self._tail + data
        seen = b"\r\n\r\n" in window
        self._tail = b"" if seen else window[-3:]
        return seen


def _unread(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel holds for this socket that the loop has not read yet: a request
    that arrived in the same burst as the newcomer looks idle from the loop alone."""
    try:
        fd = transport.get_extra_info("socket").fileno()
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
    except (AttributeError, OSError):  # closing: nothing left to protect
        return 0


class Connection(asyncio.Protocol):
    """Passes one connection through to aiohttp's handler, noting what eviction needs:
    when it was last active, and whether a request has arrived or is being answered."""

    def __init__(
        self,
        handler: asyncio.Protocol,
        read_timeout: float,
        forget: Callable[[Connection], None],
    ) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._read_timeout = read_timeout
        self._forget = forget
        self.last_active = self._loop.time()
        self._answering = 0
        self._answered_once = False
        self._head_end = _HeadEnd()
        self._head_at: float | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        # aiohttp's keep-alive timer runs from the start too, but a connection that has
        # not even sent a request should not hold a slot as long as an idle kept-alive one.
        self._deadline = self._loop.call_later(self._read_timeout, self._expire)
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_active = self._loop.time()
        if self._head_at is None and not self._answering:
            if self._head_end.seen_in(data):
                self._head_at = self.last_active
                self._cancel_deadline()
            elif self._deadline is None:
                # The next request on a kept-alive connection has begun: it gets the
                # same time to complete as the first.
                self._deadline = self._loop.call_later(self._read_timeout, self._expire)
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._forget(self)
        self.handler.connection_lost(exc)

    def request_started(self) -> None:
        self._answering += 1
        self._cancel_deadline()

    def request_done(self) -> None:
        self._answering -= 1
        self._answered_once = True
        self._head_at = None
        self.last_active = self._loop.time()

    def evictable(self, now: float) -> bool:
        if self.transport is None:
            # Normally a loop iteration away; if the accept failed after the factory ran,
            # the loop never calls back and only this frees the slot.
            return now - self.last_active > self._read_timeout
        return (
            not self._answering
            and (self._head_at is None or now - self._head_at > _HANDOFF)
            and _unread(self.transport) == 0
        )

    def evict(self) -> None:
        if self.transport is None:
            return
        if not self._answered_once:
            # It may be a client slow to send its request: a 503 tells it why it is cut off.
            self.transport.write(_BUSY)
        # abort, not close: close would wait forever for a peer that reads nothing.
        self.transport.abort()

    def _expire(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


class Refusal(asyncio.Protocol):
    """Answers 503 to a connection beyond the cap and closes it. The answer waits for the
    request head and the close for the client's, up to `timeout`: closing a socket with
    unread data resets it, which the client may see instead of the answer. With no
    `timeout` there is no room to wait: the answer is written at once."""

    def __init__(self, timeout: float | None, forget: Callable[[Refusal], None]) -> None:
        self._timeout = timeout
        self._forget = forget
        self._transport: asyncio.Transport | None = None
        self._head_end = _HeadEnd()
        self._answered = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._timeout is None:
            self._answer()
            transport.close()
        else:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        if not self._answered and self._head_end.seen_in(data):
            self._answer()

    def eof_received(self) -> bool:
        if not self._answered:
            self._answer()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._forget(self)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _answer(self) -> None:
        assert self._transport is not None
        self._answered = True
        self._transport.write(_BUSY)
        if self._transport.can_write_eof():
            self._transport.write_eof()
