"""Every `arbot` command that touches the server, run as a role with fewer rights than it
needs (the reader, one that may only INSERT, one that may only connect): it works, or it
fails in one line with an exit code of the README's table, never a traceback. The commands
are walked from the real argparse tree (every `db` and `query` command, replay, backtest),
so a new one is covered the day it is added. And the daemon itself, started as such a role,
exits 3 in one line naming the right it lacks (no restart loop under systemd)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from arbot.cli import build_parser, main
from arbot.errors import EXIT_USAGE
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.storage.pg.writer import PgWriter
from tests.cli.test_bad_input import TABLE_CODES, leaves
from tests.postgres.cluster import Cluster
from tests.postgres.roles import Roles, make_roles
from tests.reliability.config import daemon_doc, exchange, free_port, to_toml
from tests.reliability.daemon import start_once

RESTRICTED = ("reader", "insert_only", "nothing")
T0 = 1_700_000_000.0
WINDOW = ["--from", str(int(T0 - 10)), "--to", str(int(T0 + 100))]


def server_commands() -> list[str]:
    return [
        c
        for c, _ in leaves(build_parser())
        if c.split()[0] in ("db", "query", "replay", "backtest")
    ]


@pytest.fixture(scope="module")
def roles(pg_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Roles:
    """The roles, and ticks of two exchanges written by the owner."""
    roles = make_roles(pg_cluster, tmp_path_factory.mktemp("secrets"))
    writer = PgWriter(roles.settings("owner"), Metrics())

    async def write() -> None:
        writer.add(
            Tick(ex, "BTC/USDT", 100.0 + i % 3, 101.0, 1.0, 1.0, T0 + i, T0 + i)
            for i in range(50)
            for ex in ("a", "b")
        )
        await writer.close()

    asyncio.run(write())
    return roles


def config(roles: Roles, kind: str, folder: Path) -> Path:
    s = roles.settings(kind)
    path = folder / f"{kind}.toml"
    path.write_text(
        f'[storage]\nbackend = "postgresql"\ndata_dir = "{folder / "data"}"\n'
        f"[postgresql]\nconninfo = {json.dumps(s.conninfo)}\n"
        f"password_file = {json.dumps(str(s.password_file))}\n"
    )
    return path


def arguments(command: str, folder: Path) -> list[str]:
    """Good arguments for `command` (a new command must be given its own here)."""
    quotes = folder / "quotes.csv"
    quotes.write_text(
        "ts,exchange,symbol,bid,bid_size,ask,ask_size\n"
        f"{T0 + 500},a,ETH/USDT,100,1,101,1\n{T0 + 501},b,ETH/USDT,102,1,103,1\n"
    )
    backup = folder / "arbot_20240101.db.gz"
    backup.write_bytes(b"")
    return {
        "db init": [],
        "db prune": [],
        "db backup": [],
        "db restore": [str(backup)],
        "db stats": [],
        "db explain": ["SELECT * FROM tickers WHERE symbol = ?"],
        "db maintain": [],
        "db rollup": ["--date", "2023-11-14"],
        "query prices": ["BTC/USDT", "a", *WINDOW],
        "query spreads": [],
        "query signals": [],
        "query performance": [],
        "query book": ["--exchange", "a", "--symbol", "BTC/USDT", "--at", str(T0 + 10)],
        "replay": [str(quotes)],
        "backtest": ["--from-db", *WINDOW],
    }[command]


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("kind", RESTRICTED)
@pytest.mark.parametrize("command", server_commands())
def test_a_command_as_a_restricted_role_is_one_line_or_works(
    roles: Roles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
) -> None:
    argv = [
        *command.split(),
        *arguments(command, tmp_path),
        "--config",
        str(config(roles, kind, tmp_path)),
    ]
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code != EXIT_USAGE, err  # the arguments are good: it reached the server
    if code == 0:
        return
    assert code in TABLE_CODES, f"exit {code}: {err or out}"
    [line] = [line for line in err.splitlines() if line.strip()]
    assert "error" in line


@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "lacks"),
    [("insert_only", "lacks SELECT on arbot_schema"), ("reader", "lacks INSERT on symbols")],
)
def test_the_daemon_as_a_restricted_role_exits_3_naming_the_right(
    roles: Roles, tmp_path: Path, kind: str, lacks: str
) -> None:
    s = roles.settings(kind)
    doc = daemon_doc(
        tmp_path / "data",
        [exchange("binance", "binance", "http://127.0.0.1:9")],
        free_port(),
        storage={"backend": "postgresql"},
        postgresql={"conninfo": s.conninfo, "password_file": str(s.password_file)},
    )
    path = tmp_path / "arbot.toml"
    path.write_text(to_toml(doc))
    started = time.monotonic()
    done = start_once(path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    errors = [json.loads(line) for line in done.stderr.splitlines() if '"error"' in line]
    [failed] = [e for e in errors if e.get("level") == "error"]
    assert failed["event"] == "daemon_failed" and failed["exit_code"] == 3
    assert f"role {roles.names[kind]} {lacks}" in failed["error"], failed
    assert time.monotonic() - started < 30  # refused at once, not after retries
