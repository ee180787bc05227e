"""Shared fixtures: a fresh data dir with the four databases, a fresh metrics registry."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from arbot.metrics import Metrics
from arbot.settings import PostgresSettings
from arbot.storage.pg.schema import migrate
from arbot.storage.schema import init_all
from tests.postgres.cluster import ENABLE_HINT, REQUIRE_ENV, Cluster, server_bindir

_PG_SCHEMAS = itertools.count()

# Machines are shared and noisy: an example's run time says nothing about correctness.
hypothesis_settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("shared-machine")


@pytest.fixture(scope="session")
def _session_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


@pytest.fixture(autouse=True)
def _umask_restored(_session_umask: int) -> Iterator[None]:
    """The CLI tightens the process umask to the service's (cli/owner.py), as a tool run
    should; a test (or a module fixture) calling it in-process must not leave that to the
    next test."""
    os.umask(_session_umask)
    yield
    os.umask(_session_umask)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    init_all(d)
    return d


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


# PostgreSQL: one throw-away cluster per session (tests/postgres/cluster.py).
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
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


@pytest.fixture
def pg_settings(pg_cluster: Cluster) -> PostgresSettings:
    """Settings of a fresh, migrated schema of its own (search_path in the conninfo): much
    faster than a database per test."""
    name = f"t_{next(_PG_SCHEMAS)}"
    conninfo = pg_cluster.conninfo() + f" options='-c search_path={name}'"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        migrate(conn)
    return PostgresSettings(conninfo=conninfo)


def pytest_report_header(config: pytest.Config) -> str:
    return "postgresql: " + (
        str(bindir) if (bindir := server_bindir()) else ENABLE_HINT.removeprefix("PostgreSQL ")
    )
