"""Best-effort OS calls: a refusal is one warning, never an error or silence."""

from __future__ import annotations

import os
import threading

import pytest
from structlog.testing import capture_logs

from arbot import scheduler


def test_refused_setpriority_is_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a seccomp filter setpriority fails with EPERM: the job thread logs it once and
    goes on; allowed, nothing is logged and the thread's niceness rises."""

    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    with capture_logs() as logged:
        monkeypatch.setattr(os, "setpriority", refuse)
        scheduler._lower_priority()
    assert [(e["event"], e["log_level"]) for e in logged] == [("job_priority_unchanged", "warning")]
    assert "not permitted" in logged[0]["error"]


def test_allowed_setpriority_nices_only_the_calling_thread() -> None:
    """Run in a thread of its own: that thread gets JOB_NICENESS, the process keeps its own."""
    seen: list[int] = []

    def job() -> None:
        scheduler._lower_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    before = os.getpriority(os.PRIO_PROCESS, 0)
    if before > scheduler.JOB_NICENESS:
        pytest.skip("the test runs niced beyond JOB_NICENESS already")
    with capture_logs() as logged:
        thread = threading.Thread(target=job)
        thread.start()
        thread.join()
    assert seen == [scheduler.JOB_NICENESS] and not logged
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
