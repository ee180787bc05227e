"""What a backend's daily jobs are made of (the scheduler in arbot/scheduler.py runs them):
a job is blocking work run in the scheduler's thread, and JobRuns keeps their completions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

ROLLUP_AT = "00:05"  # after midnight UTC, once the previous day is complete


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    at: str  # "HH:MM" UTC
    # Blocking: gets `now` and a stop event to honour between steps; returns facts to log.
    run: Callable[[float, threading.Event], dict[str, Any]]


class JobStopped(Exception):
    """Raised inside a job's thread when the daemon is stopping."""


def pause(stop: threading.Event, seconds: float) -> None:
    if stop.wait(seconds):
        raise JobStopped


def check(stop: threading.Event) -> None:
    if stop.is_set():
        raise JobStopped


class JobRuns(Protocol):
    """Where job completions are kept, and how one scheduled run is taken."""

    def completed(self) -> dict[str, float]: ...

    def run_once(
        self,
        name: str,
        scheduled: float,
        now: float,
        work: Callable[[], dict[str, Any]],
        pause: Callable[[float], None],
    ) -> dict[str, Any]: ...
