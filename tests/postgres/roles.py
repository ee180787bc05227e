"""Roles with fewer rights, in a schema of their own: the owner's (migrated), the writer's
and the reader's as docs/operations.md grants them, one that may only INSERT, and one that
may only connect. Every role logs in with a password from a file (the cluster's pg_hba
wants one), so rotating it is tested as an operator would do it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from arbot.settings import PostgresSettings
from arbot.storage.pg.schema import migrate
from tests.postgres.cluster import Cluster

KINDS = ("owner", "writer", "reader", "insert_only", "nothing")


@dataclass(frozen=True)
class Roles:
    cluster: Cluster
    schema: str
    names: dict[str, str]  # kind -> role name
    secrets: Path  # a folder with one password file per kind

    def settings(self, kind: str) -> PostgresSettings:
        """Settings that log in as the `kind` role into the schema, password from its file."""
        return PostgresSettings(
            conninfo=f"host={self.cluster.socket_dir} dbname=postgres user={self.names[kind]} "
            f"options='-c search_path={self.schema}'",
            password_file=self.password_file(kind),
        )

    def password_file(self, kind: str) -> Path:
        return self.secrets / kind

    def superuser(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            self.cluster.conninfo() + f" options='-c search_path={self.schema}'", autocommit=True
        )

    def rotate(self, kind: str, password: str) -> None:
        """ALTER ROLE ... PASSWORD, then end the role's sessions (as after a leak)."""
        with self.superuser() as su:
            su.execute(f"ALTER ROLE {self.names[kind]} PASSWORD '{password}'")
            su.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (self.names[kind],),
            )


def make_roles(cluster: Cluster, secrets: Path) -> Roles:
    """Fresh roles and a migrated schema owned by the owner role."""
    suffix = uuid.uuid4().hex[:8]
    schema = f"roles_{suffix}"
    names = {kind: f"arbot_{kind}_{suffix}" for kind in KINDS}
    secrets.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(cluster.conninfo(), autocommit=True) as su:
        for kind, name in names.items():
            password = f"pw-{kind}-{suffix}"
            su.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
            (secrets / kind).write_text(password + "\n")
        su.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {names['owner']}")
        su.execute(f"SET ROLE {names['owner']}")
        su.execute(f"SET search_path = {schema}")
        migrate(su)  # `arbot db init` as the owner
        others = ", ".join(names[k] for k in ("writer", "reader", "insert_only", "nothing"))
        su.execute(f"GRANT USAGE ON SCHEMA {schema} TO {others}")
        su.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
            f"TO {names['writer']}"
        )
        su.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {names['reader']}")
        su.execute(f"GRANT INSERT ON ALL TABLES IN SCHEMA {schema} TO {names['insert_only']}")
    return Roles(cluster, schema, names, secrets)
