"""PostgreSQL errors as the writer sees them: which go away by themselves (retry the
batch), which write_errors{kind} label each gets, which only an operator can fix, and how
each reads on one line."""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerrors

from arbot.errors import ArbotError, ConfigError, DatabaseError

# SQLSTATE classes that go away by themselves: connection (08), resources such as a full
# disk (53), operator intervention such as a restart or a statement timeout (57),
# transaction rollback such as deadlocks (40), lock not available (55P03), a partition
# created concurrently by another shard (42P07).
_TRANSIENT_CLASSES = ("08", "53", "57", "40", "58")
_TRANSIENT_STATES = ("55P03", "42P07")
INSUFFICIENT_PRIVILEGE = "42501"

# Messages of connection failures only an operator can fix (libpq gives no SQLSTATE for
# them). At start-up they stop the daemon with the configuration code; once it runs (a
# password rotated, a right revoked) they are an outage: retried until fixed.
_LOGIN_REFUSED = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "certificate",
    "permission denied",
)
# libpq's prefixes that say nothing the rest of the message does not.
_NOISE = ("connection is bad: ", "connection failed: ")


def login_refused(exc: BaseException) -> bool:
    """The server (or TLS) refused this login: credentials, role, database, pg_hba."""
    if not isinstance(exc, psycopg.OperationalError) or exc.sqlstate:
        return False
    text = str(exc).lower()
    return any(words in text for words in _LOGIN_REFUSED)


def error_kind(exc: BaseException) -> str:
    """The write_errors label: auth | permission | locked | disk_full | io | other."""
    state = getattr(exc, "sqlstate", None) or ""
    if state == INSUFFICIENT_PRIVILEGE or (
        login_refused(exc) and "permission denied" in str(exc).lower()
    ):
        return "permission"
    if state.startswith("28") or login_refused(exc):
        return "auth"
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
    """Retry it: the environment will change (server back, space freed, lock released).
    A refused login or a missing right is not: someone must act (see `is_outage`)."""
    state = getattr(exc, "sqlstate", None) or ""
    if login_refused(exc):
        return False
    return no_partition(exc) or (
        isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        or state[:2] in _TRANSIENT_CLASSES
        or state in _TRANSIENT_STATES
    )


def is_outage(exc: BaseException) -> bool:
    """For a writer that is running: what keeps the batch waiting rather than dropping a
    record or stopping the daemon. Transient errors, and those an operator fixes while it
    waits: a rotated password, a revoked right."""
    state = getattr(exc, "sqlstate", None) or ""
    return (
        is_transient(exc)
        or login_refused(exc)
        or state == INSUFFICIENT_PRIVILEGE
        or state.startswith("28")
    )


def one_line(exc: BaseException, secret: str | None = None) -> str:
    """The message on one line, without `secret`. A failed connection keeps all of libpq's
    lines (its first names the host or socket and why, the last is only a hint), tabs and
    empty prefixes gone; a statement's error keeps its first line (the rest quotes SQL)."""
    parts: list[str] = []
    for raw in str(exc).splitlines():
        line = " ".join(raw.split())
        for noise in _NOISE:
            line = line.removeprefix(noise)
        if line and line not in parts:
            parts.append(line)
    if getattr(exc, "sqlstate", None):
        parts = parts[:1]
    text = "; ".join(parts) or type(exc).__name__
    return text.replace(secret, "***") if secret else text


def command_error(exc: psycopg.Error, what: str = "postgresql") -> ArbotError:
    """A server error met by a command, as its one line: a right the configured role
    lacks is the configuration's (exit 3), anything else the database's (exit 4)."""
    if exc.sqlstate == INSUFFICIENT_PRIVILEGE:
        return ConfigError(f"{what}: {one_line(exc)} (the role in postgresql.conninfo)")
    return DatabaseError(f"{what}: {one_line(exc)}")
