"""systemd's notify protocol (sd_notify) without libsystemd: one datagram per message to the
AF_UNIX socket named by $NOTIFY_SOCKET. Nothing is sent when the variable is unset."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

from arbot.logs import get_logger

# Used for STATUS= updates when systemd asks for no watchdog.
STATUS_INTERVAL = 2.0  # seconds between STATUS= lines
# While the start-up waits for storage, each EXTEND_TIMEOUT_USEC= gives this long until the
# next one (sent every STATUS_INTERVAL): TimeoutStartSec= counts from the last sign of life.
EXTEND_USEC = 10_000_000


class Notifier:
    """Sends READY=1 / WATCHDOG=1 / STATUS= / STOPPING=1 to the service manager."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        # A leading '@' names a socket in the abstract namespace (a NUL byte on the wire).
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._sock: socket.socket | None = None
        self._log = get_logger(component="systemd")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd configured for this process ($NOTIFY_SOCKET, $WATCHDOG_USEC).
        $WATCHDOG_PID, when set, must be our pid: the watchdog belongs to one process."""
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 and ours else None
        return cls(environ.get("NOTIFY_SOCKET") or None, watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *fields: str) -> None:
        """Send `fields` (e.g. "READY=1", "STATUS=...") as one message; a failing send is
        logged, never raised: the daemon's work does not depend on the service manager."""
        if self._address is None:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            self._log.warning("systemd_notify_failed", error=str(exc), message=fields[0])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def keep_alive(
    notifier: Notifier, stuck: Callable[[], str | None], status: Callable[[], str]
) -> None:
    """Until cancelled: send WATCHDOG=1 at half the watchdog period while `stuck()` finds
    nothing stuck, so systemd restarts a wedged daemon but not one whose exchanges are
    merely unreachable; send STATUS= with live figures every STATUS_INTERVAL (and with each
    ping), so `systemctl status` follows the feeds within seconds. Running on the event
    loop, it also stops pinging when the loop is blocked."""
    if not notifier.enabled:
        return
    watchdog = notifier.watchdog_interval
    interval = min(watchdog, STATUS_INTERVAL) if watchdog is not None else STATUS_INTERVAL
    loop = asyncio.get_running_loop()
    log = get_logger(component="systemd")
    withheld = False
    next_ping = loop.time()
    while True:
        why = stuck() if watchdog is not None else None
        if why is None:
            ping: tuple[str, ...] = ()
            # Half a round early is on time: a sleep may end a hair before its deadline, and
            # a ping skipped then would come a whole round late.
            if watchdog is not None and loop.time() >= next_ping - interval / 2:
                ping, next_ping = ("WATCHDOG=1",), loop.time() + watchdog
            notifier.notify(*ping, f"STATUS={status()}")
            if withheld:
                log.info("watchdog_resumed")
        else:
            notifier.notify(f"STATUS=stuck: {why}")
            if not withheld:
                log.error("watchdog_withheld", reason=why)
        withheld = why is not None
        await asyncio.sleep(interval)


async def extend_start(notifier: Notifier, waiting: Callable[[], tuple[float, str] | None]) -> None:
    """Until cancelled, before READY=1: every STATUS_INTERVAL, WATCHDOG=1 (the start-up
    machinery runs: this task is on its loop), and while `waiting()` says the database is
    being waited for, EXTEND_TIMEOUT_USEC= (a server down at boot must not fail the unit's
    start) and STATUS= with the cause."""
    if not notifier.enabled:
        return
    while True:
        fields = ["WATCHDOG=1"] if notifier.watchdog_interval is not None else []
        retrying = waiting()
        if retrying is not None:
            seconds, error = retrying
            fields += [
                f"EXTEND_TIMEOUT_USEC={EXTEND_USEC}",
                f"STATUS=waiting for storage for {seconds:.0f} s ({error})",
            ]
        if fields:
            notifier.notify(*fields)
        await asyncio.sleep(STATUS_INTERVAL)
