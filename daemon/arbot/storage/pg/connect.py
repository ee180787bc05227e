"""Connections to the configured PostgreSQL server. The password comes from
postgresql.password_file or libpq's own PGPASSWORD/PGPASSFILE and never appears in the
conninfo we build, a log line or an error message."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arbot.errors import ConfigError, DatabaseError
from arbot.settings import PostgresSettings
from arbot.storage.pg.errors import login_refused, one_line
from arbot.storage.portable import Dialect, register

# The statements both backends share (storage/portable.py) run here with `%s` placeholders.
register(psycopg.Connection, Dialect("%s", psycopg.Connection.transaction))


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


def target(s: PostgresSettings) -> str:
    """Which database as which role, for messages (libpq names the host or socket)."""
    try:
        given = conninfo_to_dict(s.conninfo)
    except psycopg.ProgrammingError:
        return "PostgreSQL"
    database = given.get("dbname") or os.environ.get("PGDATABASE")
    user = given.get("user") or os.environ.get("PGUSER")
    words = [f'database "{database}"' if database else "the default database"]
    if user:
        words.append(f'as "{user}"')
    return " ".join(words)


def connect_error(
    exc: psycopg.Error, s: PostgresSettings, secret: str | None
) -> ConfigError | DatabaseError:
    """One line naming the database, the role, the host or socket and what failed (never
    the password); ConfigError when only an operator can help."""
    text = f"postgresql: cannot connect to {target(s)}: {one_line(exc, secret)}"
    return ConfigError(text) if login_refused(exc) else DatabaseError(text)


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
        raise connect_error(exc, s, password(s)) from None
