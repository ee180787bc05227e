"""What the PostgreSQL daemon-process scenarios share: a cluster of their own (stopped and
started under the daemon), and a daemon config writing into it as a role of tests/postgres/
roles.py, against the fakes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.postgres.cluster import ENABLE_HINT, REQUIRE_ENV, Cluster, server_bindir
from tests.postgres.roles import Roles
from tests.reliability.fakes import FakeMarket
from tests.reliability.scenario import write_daemon_config


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A running cluster for one scenario (its server is stopped and started by it)."""
    bindir = server_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {ENABLE_HINT}")
        pytest.skip(ENABLE_HINT)
    cluster = Cluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def pg_daemon_config(
    tmp: Path,
    name: str,
    fakes: FakeMarket,
    roles: Roles,
    kind: str = "writer",
    **sections: Mapping[str, Any],
) -> tuple[Path, int]:
    """A daemon config (data dir tmp/name) writing as role `kind`; (path, metrics port)."""
    s = roles.settings(kind)
    folder = tmp / name
    folder.mkdir(exist_ok=True)
    storage = {"backend": "postgresql", **sections.pop("storage", {})}
    postgresql = {"conninfo": s.conninfo, "password_file": str(s.password_file)}
    return write_daemon_config(
        folder,
        folder / "data",
        fakes,
        storage=storage,
        postgresql={**postgresql, **sections.pop("postgresql", {})},
        **sections,
    )


def stored_ticks(roles: Roles) -> int:
    with roles.superuser() as su:
        (n,) = su.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
    return int(str(n))


def server_up(cluster: Cluster) -> bool:
    try:
        with psycopg.connect(cluster.conninfo(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False
