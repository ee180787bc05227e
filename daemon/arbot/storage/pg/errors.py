"""PostgreSQL errors as the writer sees them: which go away by themselves (retry the
batch), which write_errors{kind} label each gets."""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerrors

# SQLSTATE classes that go away by themselves: connection (08), resources such as a full
# disk (53), operator intervention such as a restart or a statement timeout (57),
# transaction rollback such as deadlocks (40), lock not available (55P03), a partition
# created concurrently by another shard (42P07).
_TRANSIENT_CLASSES = ("08", "53", "57", "40", "58")
_TRANSIENT_STATES = ("55P03", "42P07")


def error_kind(exc: BaseException) -> str:
    """The write_errors label: locked | disk_full | io | other."""
    state = getattr(exc, "sqlstate", None) or ""
    if state == "53100":
        return "disk_full"
    if state.startswith("40") or state == "55P03":
        return "locked"
    if isinstance(exc, psycopg.OperationalError) or state[:2] in ("08", "57", "58"):
        return "io"
    return "other"


def no_partition(exc: BaseException) -> bool:
    """A partition the writer thought existed was dropped (retention) meanwhile."""
    return isinstance(exc, pgerrors.CheckViolation) and "no partition" in str(exc)


def is_transient(exc: BaseException) -> bool:
    """Retry it: the environment will change (server back, space freed, lock released)."""
    state = getattr(exc, "sqlstate", None) or ""
    return no_partition(exc) or (
        isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        or state[:2] in _TRANSIENT_CLASSES
        or state in _TRANSIENT_STATES
    )


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
