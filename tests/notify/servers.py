"""Local services for Apprise to deliver to, all on 127.0.0.1: an HTTP receiver (json://
and ntfy:// post to it) that can answer 500, hang or be stopped and restarted on its port,
and a minimal SMTP server (enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiohttp import web

# Strings the tests put into URLs: no output of a test may contain any of them.
SECRETS = (
    "s3cr3t-hook-token",
    "arbot-s3cr3t-topic",
    "AAHs3cr3tBotToken",
    "s3cr3t-env-token",
    "987123456",
)


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    @property
    def data(self) -> dict[str, Any]:
        """Our JSON body, carried as Apprise's `message` (json:// webhooks)."""
        loaded: dict[str, Any] = json.loads(self.message)
        return loaded


@dataclass
class Receiver:
    """`mode`: "ok", "fail" (500) or "slow" (answers after `delay` s)."""

    mode: str = "ok"
    delay: float = 30.0
    port: int = 0
    got: list[Received] = field(default_factory=list)
    failed: int = 0
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.mode == "fail":
            self.failed += 1
            return web.Response(status=500)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        self.got.append(Received(request.path, json.loads(raw or b"{}"), time.time()))
        return web.Response(text="ok")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, scheme: str, path: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"


class SmtpServer:
    """Keeps each message delivered as an email.message.EmailMessage."""

    def __init__(self) -> None:
        self.mails: list[Any] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> SmtpServer:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(line: str) -> None:
            writer.write(f"{line}\r\n".encode())

        say("220 localhost ESMTP test")
        try:
            while line := await reader.readline():
                verb = line.decode(errors="replace").strip().split(" ")[0].upper()
                if verb == "EHLO":
                    say("250-localhost")
                    say("250 8BITMIME")
                elif verb == "DATA":
                    say("354 end with <CRLF>.<CRLF>")
                    await writer.drain()
                    data = await reader.readuntil(b"\r\n.\r\n")
                    self.mails.append(message_from_bytes(data[:-5], policy=policy.default))
                    say("250 OK")
                elif verb == "QUIT":
                    say("221 bye")
                    break
                else:  # HELO, MAIL, RCPT, RSET, NOOP
                    say("250 OK")
                await writer.drain()
        finally:
            writer.close()
