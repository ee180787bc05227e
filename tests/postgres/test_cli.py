"""`arbot db ...` and `arbot query` with storage.backend = "postgresql", end to end through
arbot.cli.main: init migrates an empty schema, stats counts ticks per shard, queries read
the server, prune, rollup and maintain run, and
the file-level backup/restore refuse in one line naming pg_dump/pg_restore."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from arbot.cli import main
from arbot.errors import EXIT_DATABASE
from arbot.metrics import Metrics
from arbot.models import Book, Tick
from arbot.settings import PostgresSettings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.schema import migrations
from arbot.storage.pg.shard import shard_of
from arbot.storage.pg.writer import PgWriter


@pytest.fixture
def config(tmp_path: Path, pg_settings: PostgresSettings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TOML for a fresh, empty schema (nothing migrated yet), two shards."""
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    name = f"cli_{uuid.uuid4().hex[:12]}"
    with connect(pg_settings) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    conninfo = re.sub(r"search_path=\w+", f"search_path={name}", pg_settings.conninfo)
    path = tmp_path / "arbot.toml"
    path.write_text(
        f'[storage]\nbackend = "postgresql"\ndata_dir = "{tmp_path / "data"}"\n'
        f"[postgresql]\nconninfo = {json.dumps(conninfo)}\n"
        "[shard]\nindex = 0\ncount = 2\n"
    )
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_init_stats_prune_maintain(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(config)]
    out = run_json(capsys, "db", "init", *cfg)
    assert out["backend"] == "postgresql"
    assert re.fullmatch(rf"cli_\w+ v{len(migrations())}", out["schema"])
    assert run_json(capsys, "db", "init", *cfg)["schema"] == out["schema"]  # idempotent

    conninfo = re.search(r'conninfo = (".*")', config.read_text())
    assert conninfo
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]

    async def write() -> None:
        writer = PgWriter(PostgresSettings(conninfo=json.loads(conninfo.group(1))), Metrics())
        now = 1_700_000_000.0
        writer.add(
            [Tick("okx", s, 1.0, 2.0, None, None, now + i, now) for i, s in enumerate(symbols)],
            [],
            [Book("okx", "BTC/USDT", ((1.0, 3.0),), ((2.0, 4.0),), now, now)],
        )
        await writer.close()

    asyncio.run(write())
    stats = run_json(capsys, "db", "stats", *cfg)
    expected = {"0/2": 0, "1/2": 0}
    for s in symbols:
        expected[f"{shard_of(s, 2)}/2"] += 1
    assert stats["ticks_per_shard"] == expected
    assert stats["tables"]["books"]["bytes"] > 0  # order books are listed with the ticks
    assert main(["db", "stats", *cfg]) == 0  # for a person: key: value lines, not JSON
    human = capsys.readouterr().out
    assert not human.lstrip().startswith("{") and "ticks_per_shard.0/2" in human
    # The README's example, with SQLite's `?` placeholder, plans on the server too.
    assert main(["db", "explain", "SELECT * FROM tickers WHERE symbol = ?", *cfg]) == 0
    assert "Scan" in capsys.readouterr().out

    window = ["--from", "1699999990", "--to", "1700000010"]
    prices = run_json(capsys, "query", "prices", "ETH/USDT", "okx", *window, *cfg)
    assert [r["timestamp"] for r in prices["rows"]] == [1_700_000_001.0]
    assert main(["query", "prices", "DOGE/USDT", "okx", *cfg]) == 2  # unknown: usage error
    assert "BTC/USDT, ETH/USDT, SOL/USDT" in capsys.readouterr().err

    pruned = run_json(capsys, "db", "prune", *cfg)
    assert pruned["partitions_dropped"] == 1 and pruned["bars_written"] == 3
    assert pruned["book_partitions_dropped"] == 1  # the books of the tick day dropped
    rolled = run_json(capsys, "db", "rollup", "--date", "2023-11-14", *cfg)
    assert rolled["performance"]["date"] == "2023-11-14" and rolled["symbols"] == []
    with connect(PostgresSettings(conninfo=json.loads(conninfo.group(1)))) as conn:
        days = conn.execute("SELECT date::text FROM performance_metrics").fetchall()
    assert days == [("2023-11-14",)]
    (step,) = run_json(capsys, "db", "maintain", *cfg)
    assert step["step"] == "ANALYZE" and step["result"] == "done"


@pytest.mark.parametrize(("command", "tool"), [("backup", "pg_dump"), ("restore", "pg_restore")])
def test_file_commands_refuse_naming_the_postgresql_tool(
    config: Path, capsys: pytest.CaptureFixture[str], command: str, tool: str
) -> None:
    argv = ["db", command, "--config", str(config)]
    if command == "restore":
        backup = config.parent / "arbot_20240101.db.gz"
        backup.write_bytes(b"")
        argv.append(str(backup))
    assert main(argv) == EXIT_DATABASE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and tool in err[0]
