"""The one module that talks to Apprise: whether it takes a URL, and sending one message to
one URL. Apprise runs each service's blocking HTTP call on its own worker threads
(`async_notify`), with its own connect/read timeouts (4 s each unless the URL says `cto=`/
`rto=`), so a slow service never blocks the event loop.

Apprise's log records may carry a URL's parts (a chat id, a host), so they never reach our
log: its logger does not propagate, and what a failed call captured is scrubbed before we
use it as the reason."""

from __future__ import annotations

import logging
from functools import cache
from types import ModuleType
from typing import Literal

from arbot.notify.targets import Scrubber

Level = Literal["info", "success", "warning", "failure"]  # Apprise's NotifyType values
# An upper bound on one call whatever the URL's timeouts (Apprise retries inside it when a
# URL asks for `retry=`).
SEND_TIMEOUT = 60.0


@cache
def _apprise() -> ModuleType:
    """Imported on first use: the plugins take ~0.5 s to load, which commands and daemons
    without targets never pay."""
    import apprise

    logging.getLogger("apprise").propagate = False
    return apprise


def accepts(url: str) -> bool:
    """Whether Apprise knows the URL's scheme and can parse it."""
    return bool(_apprise().Apprise().add(url))


class Channel:
    """One Apprise URL of a target."""

    def __init__(self, url: str, scrub: Scrubber) -> None:
        apprise = _apprise()
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ValueError("not a URL Apprise can send to")
        self._scrub = scrub

    async def send(self, title: str, body: str, level: Level) -> str | None:
        """None when the service took the message, else why not (no secret in it)."""
        apprise = _apprise()
        try:
            result = await self._apprise.async_notify(
                body=body,
                title=title,
                notify_type=apprise.NotifyType(level),
                body_format=apprise.NotifyFormat.TEXT,
                timeout=SEND_TIMEOUT,
            )
        except Exception as exc:  # a plugin's bug must not end the notifier
            return self._scrub(f"{type(exc).__name__}: {exc}")
        if result:
            return None
        reasons = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
        return self._scrub("; ".join(reasons) or result.status.name.lower())
