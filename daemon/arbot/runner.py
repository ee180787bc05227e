"""The process around the daemon: the event loop (uvloop when installed) and the signals.
SIGTERM/SIGINT start the drain, a second one or the hard-stop deadline ends the process at
once, SIGHUP reloads."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable

from arbot.errors import EXIT_UNCLEAN
from arbot.event_loop import loop_factory
from arbot.logs import get_logger

HARD_STOP_MARGIN = 5.0  # seconds past service.grace_timeout before the process is ended


def _hard_stop() -> None:
    get_logger().error("stop_deadline_exceeded")
    sys.stderr.flush()
    os._exit(EXIT_UNCLEAN)


def run_until_signalled(
    main: Callable[[Awaitable[object]], Awaitable[int]],
    grace: float = 20.0,
    reload: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Run `main(stop)` on uvloop (when installed) until it returns its exit code. SIGTERM or
    SIGINT completes `stop`, starting the drain; a second one exits at once, and so does the
    process if it still runs `grace` + HARD_STOP_MARGIN seconds after the first. SIGHUP
    runs `reload()` (one at a time) and never stops the process."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_with_signals(main, grace, reload))


async def _reload_on(hup: asyncio.Event, reload: Callable[[], Awaitable[None]] | None) -> None:
    """Until cancelled: one reload per SIGHUP burst; a failing reload is logged, never
    raised (it would end the daemon through the task group)."""
    log = get_logger(component="reload")
    while True:
        await hup.wait()
        hup.clear()
        if reload is None:
            log.warning("reload_unsupported", signal="SIGHUP")
            continue
        try:
            await reload()
        except Exception:
            log.exception("reload_crashed")


async def _with_signals(
    main: Callable[[Awaitable[object]], Awaitable[int]],
    grace: float,
    reload: Callable[[], Awaitable[None]] | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hup = asyncio.Event()
    log = get_logger()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("forced_exit", signal=sig.name)
            sys.stderr.flush()
            os._exit(EXIT_UNCLEAN)
        log.info("stop_requested", signal=sig.name)
        stop.set()
        # The drain is bounded by `grace`, but a task that swallows its cancellation (or a
        # blocked loop) could still keep the process alive; a thread timer cannot be stalled.
        deadline = threading.Timer(grace + HARD_STOP_MARGIN, _hard_stop)
        deadline.daemon = True
        deadline.start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    try:
        async with asyncio.TaskGroup() as tg:
            reloads = tg.create_task(_reload_on(hup, reload), name="reload")
            try:
                return await main(stop.wait())
            finally:
                reloads.cancel()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
