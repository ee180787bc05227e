"""The least-privilege roles of docs/operations.md ("Scaling out") work as written: the
owner migrates, a daemon writing as `arbot_writer` (owning nothing) stores ticks into a day
with no partition yet, and can neither change the schema nor drop partitions (its daily
retention job says so in one line); the reader only reads."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import psycopg
import pytest

from arbot.cli import main
from arbot.errors import EXIT_DATABASE, DatabaseError
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.settings import PostgresSettings, RetentionSettings
from arbot.storage.pg import jobs
from arbot.storage.pg.connect import connect
from arbot.storage.pg.schema import migrate
from arbot.storage.pg.writer import PgWriter
from tests.postgres.cluster import Cluster

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"
PASSWORD = "wr1ter-Secret"


def readme_sql(marker: str) -> list[str]:
    """The statements of docs/operations.md's SQL block that follows `marker`."""
    text = OPERATIONS.read_text(encoding="utf-8")
    block = text[text.index(marker) :].split("```sql\n", 1)[1].split("```", 1)[0]
    return [s.strip() for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]


def test_writer_role_writes_but_cannot_alter(
    pg_cluster: Cluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {r: f"{r}_{suffix}" for r in ("arbot_owner", "arbot_writer", "arbot_reader")}
    schema = f"arbot_{suffix}"

    def named(sql: str) -> str:
        for role, name in names.items():
            sql = sql.replace(role, name)
        return re.sub(r"\barbot\b(?!_)", schema, sql)

    with psycopg.connect(pg_cluster.conninfo(), autocommit=True) as su:
        for sql in readme_sql("**Least-privilege roles.**")[:7]:  # the superuser's part
            su.execute(named(sql))
        su.execute(f"ALTER ROLE {names['arbot_writer']} PASSWORD '{PASSWORD}'")
        su.execute(f"SET ROLE {names['arbot_owner']}")
        su.execute(f"SET search_path = {schema}")
        migrate(su)  # `arbot db init` as the owner
        for sql in readme_sql("**Least-privilege roles.**")[7:]:
            su.execute(named(sql))

    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    writer_settings = PostgresSettings(
        conninfo=f"host={pg_cluster.socket_dir} dbname=postgres user={names['arbot_writer']}",
        password_file=secret,
    )

    async def write() -> int:
        writer = PgWriter(writer_settings, Metrics())
        ts = 1_600_000_000.0  # a day with no partition: created through the definer function
        writer.add([Tick("okx", "BTC/USDT", 1.0, 2.0, None, None, ts, ts)])
        await writer.close()
        return writer.committed

    assert asyncio.run(write()) == 1
    with connect(writer_settings) as conn:
        assert conn.execute("SELECT count(*) FROM tickers").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE ticks_20200913")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE ticks ADD COLUMN x int")
    with pytest.raises(DatabaseError, match=r"role arbot_writer_\w+ does not own ticks"):
        jobs.prune(writer_settings, RetentionSettings(), 1_700_000_000.0, lambda: None)
    with connect(writer_settings) as conn:  # nothing archived, nothing dropped
        assert conn.execute("SELECT count(*) FROM tickers").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM archive_state").fetchone() == (0,)
    # `arbot db prune` as that role: one line naming the missing right, exit 4.
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    config = tmp_path / "arbot.toml"
    config.write_text(
        f'[storage]\nbackend = "postgresql"\ndata_dir = "{tmp_path / "data"}"\n'
        f"[postgresql]\nconninfo = {json.dumps(writer_settings.conninfo)}\n"
        f"password_file = {json.dumps(str(secret))}\n"
    )
    assert main(["db", "prune", "--config", str(config)]) == EXIT_DATABASE
    err = capsys.readouterr().err
    assert re.search(r"db prune: role arbot_writer_\w+ does not own ticks", err), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
