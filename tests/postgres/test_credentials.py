"""Credentials and rights while the writer runs, and at its start. Once writing, a password
rotated (its sessions ended) or a right revoked is an outage: the batch and its records
wait, write_errors{kind} counts auth or permission, `retrying()` (what /healthz shows)
names the cause, one log line says it began and one that it ended, and the batch commits
once an operator fixes it (password_file is read again at each reconnect). At the start, a
role that cannot do what the writer needs is one ConfigError naming the missing right."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from arbot.errors import EXIT_CONFIG, ConfigError
from arbot.metrics import Metrics
from arbot.models import Signal, Tick
from arbot.records import SignalFound
from arbot.storage.pg.writer import PgWriter
from tests.helpers import sample, wait_until
from tests.postgres.cluster import Cluster
from tests.postgres.roles import Roles, make_roles

NEW_PASSWORD = "r0tated-Secret"


@pytest.fixture
def roles(pg_cluster: Cluster, tmp_path: Path) -> Roles:
    return make_roles(pg_cluster, tmp_path / "secrets")


def ticks(first: int, n: int) -> list[Tick]:
    return [
        Tick("okx", "BTC/USDT", 1.0, 2.0, 1.0, 1.0, 1_700_000_000.0 + i, 1_700_000_000.0 + i)
        for i in range(first, first + n)
    ]


def signal(sid: int) -> SignalFound:
    s = Signal("BTC/USDT", "okx", "kraken", 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.9, "stable", 1.0, "k")
    return SignalFound(sid, s)


def stored(roles: Roles) -> tuple[int, int]:
    with roles.superuser() as su:
        counts = su.execute(
            "SELECT (SELECT count(*) FROM ticks), (SELECT count(*) FROM arbitrage_signals)"
        ).fetchone()
    assert counts is not None
    return int(str(counts[0])), int(str(counts[1]))


async def outage(
    writer: PgWriter, metrics: Metrics, kind: str, begin: object, fix: object
) -> list[dict[str, object]]:
    """Commit one batch, `begin` the fault, cut the next (ticks and a signal): it waits,
    counted and reported as `kind`, until `fix`; returns the log lines meanwhile."""
    resume = await asyncio.to_thread(writer.resume_state)
    sid = resume.first_ids["arbitrage_signals"]
    writer.add(ticks(0, 100), [signal(sid)])
    await writer.flush()
    assert callable(begin) and callable(fix)
    begin()
    writer.add(ticks(100, 100), [signal(sid + 1)])
    with capture_logs() as logs:
        commit = asyncio.ensure_future(writer.flush())
        await wait_until(lambda: sample(metrics, "arbot_write_errors_total", kind=kind) >= 3)
        assert not commit.done()
        retrying = writer.retrying()
        assert retrying is not None and retrying[1].startswith(f"{kind}: "), retrying
        assert sample(metrics, "arbot_writer_retrying") == 1
        fix()
        await commit
    await writer.close()
    assert writer.committed == 200 and not writer.records_dropped
    assert sample(metrics, "arbot_writer_retrying") == 0
    return [dict(e) for e in logs]


async def test_a_rotated_password_is_an_outage_until_password_file_is_fixed(
    roles: Roles,
) -> None:
    metrics = Metrics()
    writer = PgWriter(roles.settings("writer"), metrics, retry_max_seconds=0.2)

    def fix() -> None:
        roles.password_file("writer").write_text(NEW_PASSWORD + "\n")

    logs = await outage(writer, metrics, "auth", lambda: roles.rotate("writer", NEW_PASSWORD), fix)
    assert stored(roles) == (200, 2)
    failed = [e for e in logs if e["event"] == "batch_write_failed"]
    # One line per state: the session ended (io), then the login refused (auth).
    assert [e["kind"] for e in failed][-1] == "auth" and len(failed) <= 2, failed
    assert "password authentication failed" in str(failed[-1]["error"])
    assert [e["event"] for e in logs][-1] == "batch_write_recovered"
    assert NEW_PASSWORD not in repr(logs)


async def test_a_revoked_right_is_an_outage_and_drops_no_record(roles: Roles) -> None:
    """The signal's INSERT is refused: the whole batch waits (a record is never dropped
    for a right), and commits once the right is granted again."""
    metrics = Metrics()
    writer = PgWriter(roles.settings("writer"), metrics, retry_max_seconds=0.2)
    role = roles.names["writer"]

    def grant(verb: str) -> None:
        with roles.superuser() as su:
            su.execute(
                f"{verb} INSERT ON arbitrage_signals {'FROM' if verb == 'REVOKE' else 'TO'} {role}"
            )

    logs = await outage(
        writer, metrics, "permission", lambda: grant("REVOKE"), lambda: grant("GRANT")
    )
    assert stored(roles) == (200, 2)
    failed = [e for e in logs if e["event"] == "batch_write_failed"]
    assert len(failed) == 1 and "permission denied" in str(failed[0]["error"])


@pytest.mark.parametrize(
    ("kind", "lacks"),
    [
        ("insert_only", "lacks SELECT on arbot_schema"),
        ("nothing", "lacks SELECT on arbot_schema"),
        ("reader", "lacks INSERT on symbols, exchanges, ticks, books, arbitrage_signals"),
    ],
)
def test_a_role_without_the_writers_rights_is_refused_at_start(
    roles: Roles, kind: str, lacks: str
) -> None:
    writer = PgWriter(roles.settings(kind), Metrics())
    with pytest.raises(ConfigError) as info:
        writer.resume_state()
    message = str(info.value)
    assert info.value.exit_code == EXIT_CONFIG
    assert f"role {roles.names[kind]} {lacks}" in message, message
    assert "\n" not in message
