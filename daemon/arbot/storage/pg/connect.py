"""Connections to the configured PostgreSQL server. The password comes from
postgresql.password_file or libpq's own PGPASSWORD/PGPASSFILE and never appears in the
conninfo we build, a log line or an error message."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arbot.errors import ConfigError, DatabaseError
from arbot.settings import PostgresSettings

# Messages of connection failures only an operator can fix (libpq gives no SQLSTATE for
# them): exit with the configuration code instead of retrying forever.
_OPERATOR_ERRORS = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "certificate",
    "permission denied",
)


def conninfo_of(s: PostgresSettings, *, statement_timeout: bool = True) -> str:
    """The libpq conninfo for `s`, without a password: TLS options passed through, UTC
    sessions (timestamp columns are UTC), the statement timeout for readers."""
    try:
        given = conninfo_to_dict(s.conninfo)
    except psycopg.ProgrammingError:
        raise ConfigError("postgresql.conninfo: not a valid libpq conninfo string or URI") from None
    if "password" in given:
        raise ConfigError("postgresql.conninfo: must not contain a password")
    options = str(given.get("options", "")) + " -c timezone=UTC"
    if statement_timeout:
        options += f" -c statement_timeout={s.statement_timeout_ms}"
    extra: dict[str, Any] = {
        "options": options.strip(),
        "connect_timeout": s.connect_timeout,
        "application_name": given.get("application_name", "arbot"),
    }
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        value = getattr(s, key)
        if value is not None:
            extra[key] = str(value)
    return make_conninfo(s.conninfo, **extra)


def password(s: PostgresSettings) -> str | None:
    if s.password_file is None:
        return None
    try:
        return s.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(
            f"postgresql.password_file: cannot read {s.password_file}: {exc.strerror}"
        ) from None


def connect_error(exc: psycopg.Error, secret: str | None) -> ConfigError | DatabaseError:
    """One line naming what failed; ConfigError when only an operator can help."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    if any(words in text.lower() for words in _OPERATOR_ERRORS):
        return ConfigError(f"postgresql: cannot connect: {text}")
    return DatabaseError(f"postgresql: cannot connect: {text}")


def is_operator_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and isinstance(
        connect_error(exc, None), ConfigError
    )


def open_connection(
    s: PostgresSettings, *, statement_timeout: bool = True
) -> psycopg.Connection[Any]:
    """An autocommit connection (transactions are explicit); psycopg's errors as they are,
    for callers that retry."""
    secret = password(s)
    kwargs: dict[str, Any] = {"password": secret} if secret else {}
    return psycopg.connect(
        conninfo_of(s, statement_timeout=statement_timeout), autocommit=True, **kwargs
    )


def connect(s: PostgresSettings, *, statement_timeout: bool = True) -> psycopg.Connection[Any]:
    """open_connection for commands: a failure is one line naming it (ConfigError when only
    an operator can fix it, else DatabaseError)."""
    try:
        return open_connection(s, statement_timeout=statement_timeout)
    except psycopg.Error as exc:
        raise connect_error(exc, password(s)) from None
