"""Numbered PostgreSQL migrations (migrations/pg_NNN.sql), tracked in `arbot_schema`.
Each runs in one transaction under an advisory lock, so daemons starting together migrate
once; a database with a newer schema, or someone else's tables, is refused untouched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import psycopg

from arbot.errors import ConfigError, DatabaseError

# pg_advisory_xact_lock key of migrations ('ARBM').
MIGRATION_LOCK = 0x4152424D


def migrations() -> list[str]:
    folder = resources.files("arbot.storage.pg") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith("pg_"))
    return [(folder / name).read_text(encoding="utf-8") for name in names]


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """Our schema version; 0 for an empty database; None for another application's."""
    if conn.execute("SELECT to_regclass('arbot_schema')").fetchone() != (None,):
        row = conn.execute("SELECT version FROM arbot_schema").fetchone()
        return int(row[0]) if row else 0
    (tables,) = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v')"
    ).fetchone() or (0,)
    return 0 if tables == 0 else None


def check_version(version: int | None, supported: int) -> None:
    if version is None:
        raise DatabaseError(
            "postgresql: the database holds tables of another application "
            "(no arbot_schema); refusing it"
        )
    if version > supported:
        raise DatabaseError(
            f"postgresql: schema version {version} is newer than this arbot supports "
            f"({supported}); upgrade arbot or restore an older backup"
        )


def migrate(conn: psycopg.Connection[Any], scripts: list[str] | None = None) -> int:
    """Apply pending migrations; returns the resulting version."""
    scripts = migrations() if scripts is None else scripts
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            current = schema_version(conn)
            check_version(current, len(scripts))
            assert current is not None
            if current == len(scripts):
                return current
            try:
                if current == 0:
                    conn.execute(
                        "CREATE TABLE arbot_schema (one boolean PRIMARY KEY DEFAULT true "
                        "CHECK (one), version integer NOT NULL)"
                    )
                    conn.execute("INSERT INTO arbot_schema (version) VALUES (0)")
                conn.execute(scripts[current])
                conn.execute("UPDATE arbot_schema SET version = %s", (current + 1,))
            except psycopg.Error as exc:
                raise DatabaseError(f"postgresql: migration #{current + 1} failed: {exc}") from None


def check_schema(conn: psycopg.Connection[Any]) -> None:
    """For readers, which never migrate: the schema must be exactly this program's."""
    expected, found = len(migrations()), schema_version(conn)
    check_version(found, expected)
    if found != expected:
        raise DatabaseError(
            f"postgresql: schema version {found} differs from {expected}; run `arbot db init`"
        )


def describe(conn: psycopg.Connection[Any]) -> str:
    """The database and schema `conn` works in, for messages: PostgreSQL db/schema."""
    row = conn.execute("SELECT current_database(), current_schema()").fetchone() or ("?", "?")
    return f"PostgreSQL {row[0]}/{row[1]}"


def check_rights(
    conn: psycopg.Connection[Any],
    tables: Mapping[str, Sequence[str]],
    who: str,
    *,
    functions: Sequence[str] = (),
    temporary: bool = False,
) -> None:
    """Raise ConfigError naming each right on `tables` (those that exist), `functions` and
    temporary tables (`temporary`) that the session's role lacks, in one line."""
    names = [t for t, privileges in tables.items() for _ in privileges]
    privileges = [p for ps in tables.values() for p in ps]
    missing = conn.execute(
        "SELECT r.t, r.p FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS r(t, p, n) "
        "WHERE to_regclass(r.t) IS NOT NULL AND NOT has_table_privilege(r.t, r.p) "
        "ORDER BY r.n",
        (names, privileges),
    ).fetchall()
    lacks: dict[str, list[str]] = {}
    for table, privilege in missing:
        lacks.setdefault(privilege, []).append(table)
    for function in functions:
        (ok,) = conn.execute(
            "SELECT to_regprocedure(%s) IS NULL OR has_function_privilege(%s, 'EXECUTE')",
            (function, function),
        ).fetchone() or (True,)
        if not ok:
            lacks.setdefault("EXECUTE", []).append(function)
    if temporary:
        (ok,) = conn.execute(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY')"
        ).fetchone() or (True,)
        if not ok:
            lacks.setdefault("TEMPORARY", []).append("the database")
    if not lacks:
        return
    (role,) = conn.execute("SELECT current_user").fetchone() or ("?",)
    rights = "; ".join(f"{p} on {', '.join(on)}" for p, on in lacks.items())
    raise ConfigError(
        f"postgresql: role {role} lacks {rights}, which {who} needs; grant them as the "
        "owner (docs/operations.md, Least-privilege roles)"
    )
