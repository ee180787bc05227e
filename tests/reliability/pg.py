"""What the PostgreSQL daemon-process scenarios share: a cluster of their own (stopped and
started under the daemon), and a daemon config writing into it as a role of tests/postgres/
roles.py, against the fakes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.postgres.cluster import ENABLE_HINT, REQUIRE_ENV, Cluster, server_bindir
from tests.postgres.roles import Roles
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.fakes import FakeMarket


@contextlib.contextmanager
def own_cluster(settings: str = "", *, durable: bool = False) -> Iterator[Cluster]:
    """A running cluster for one scenario (its server is stopped and started by it), with
    server `settings` (`-c name=value ...`); `durable` for one stopped with `-m immediate`
    (Cluster.start: else an acknowledged commit may be lost)."""
    bindir = server_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {ENABLE_HINT}")
        pytest.skip(ENABLE_HINT)
    cluster = Cluster(bindir)
    try:
        cluster.init()
        cluster.start(durable=durable, settings=settings)
        yield cluster
    finally:
        cluster.remove()


def pg_daemon_config(
    tmp: Path,
    name: str,
    fakes: FakeMarket,
    roles: Roles,
    *,
    kind: str = "writer",
    prefix: str = "",
    **sections: Mapping[str, Any],
) -> tuple[Path, int]:
    """A daemon config (data dir tmp/name) writing as role `kind`, every fake an exchange
    named `prefix` + its venue name; (path, metrics port)."""
    s = roles.settings(kind)
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    exchanges = [exchange(prefix + v, fakes.ccxt_ids[v], url) for v, url in fakes.urls.items()]
    storage = {"backend": "postgresql", **sections.pop("storage", {})}
    postgresql = {"conninfo": s.conninfo, "password_file": str(s.password_file)}
    postgresql |= sections.pop("postgresql", {})
    doc = daemon_doc(
        folder / "data", exchanges, port, storage=storage, postgresql=postgresql, **sections
    )
    return write_config(folder / "arbot.toml", doc), port


def stored_ticks(roles: Roles) -> int:
    with roles.superuser() as su:
        (n,) = su.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
    return int(str(n))
