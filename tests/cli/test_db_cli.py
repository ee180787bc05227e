"""`arbot db ...` and `arbot query ...` end to end through arbot.cli.main, JSON output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.cli import main
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.schema import migrations, open_database
from arbot.version import version


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_backup_then_restore_round_trip(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """db backup writes verified files; db restore of the arbot file undoes later writes."""
    dd = ["--data-dir", str(data_dir)]
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(50, time.time() - 600, 300))
    conn.close()

    out = run_json(capsys, "db", "backup", *dd)
    assert out["ok"] and len(out["files"]) == 4
    arbot_file = next(f["file"] for f in out["files"] if f["database"] == "arbot")

    conn = open_database(data_dir, "arbot")
    conn.execute("DELETE FROM ticks")
    conn.close()
    restored = run_json(capsys, "db", "restore", arbot_file, *dd)
    assert restored["restored"].endswith("arbot.db") and restored["schema_version"] == len(
        migrations("arbot")
    )

    stats = run_json(capsys, "db", "stats", *dd)
    arbot = next(s for s in stats if s["database"] == "arbot")
    assert arbot["rows"]["ticks"] == 50
    assert arbot["ingestion"]["ticks_last_hour"] == 50


def test_restore_refuses_with_a_clear_message_while_the_daemon_runs(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit code 4 and a message naming the lock file."""
    dd = ["--data-dir", str(data_dir)]
    out = run_json(capsys, "db", "backup", "--db", "arbot", *dd)
    with acquire_daemon_lock(data_dir):
        assert main(["db", "restore", out["files"][0]["file"], *dd]) == 4
    err = capsys.readouterr().err
    assert "arbot.lock" in err and "stop the daemon" in err


def test_explain_prints_a_plan_and_refuses_writes(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SELECT gets its plan; a DELETE is a usage error (exit 2) and nothing is deleted."""
    dd = ["--data-dir", str(data_dir)]
    assert main(["db", "explain", "SELECT * FROM tickers WHERE timestamp > 5", *dd]) == 0
    assert "SEARCH ticks USING PRIMARY KEY (symbol_id=? AND ts>?)" in capsys.readouterr().out
    assert main(["db", "explain", "DELETE FROM ticks", *dd]) == 2
    assert "only a single SELECT" in capsys.readouterr().err


def test_prune_maintain_and_queries_in_json(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every command answers --json with plain data."""
    dd = ["--data-dir", str(data_dir)]
    now = time.time()
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(400, now - 1800, 1700, seed=2))
    insert_ticks(conn, random_ticks(100, now - 10 * 86_400, 3600, seed=3))
    conn.close()

    pruned = run_json(capsys, "db", "prune", *dd)
    assert pruned["ticks_deleted"] == 100 and pruned["bars_written"] > 0
    maintained = run_json(capsys, "db", "maintain", *dd)
    assert all(r["result"] == "integrity_check: ok" for r in maintained if r["step"] == "check")

    spreads = run_json(capsys, "query", "spreads", "--min-samples", "1", *dd)
    assert sum(r["samples"] for r in spreads) == 400
    prices = run_json(capsys, "query", "prices", "BTC/USDT", "binance", "--from",
                      str(now - 3600), *dd)  # fmt: skip
    assert prices["rows"] and all(p["bid"] > 0 for p in prices["rows"])
    stamps = [p["timestamp"] for p in prices["rows"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    signals = run_json(capsys, "query", "signals", *dd)
    assert signals["totals"]["total_signals"] == 0 and signals["signals"] == []
    assert run_json(capsys, "query", "performance", *dd) == []


def test_tables_on_a_terminal(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the commands print aligned tables with human sizes and UTC times;
    an unknown symbol is named with the known ones."""
    dd = ["--data-dir", str(data_dir)]
    now = time.time()
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(20, now - 600, 300, seed=4))
    conn.close()
    assert main(["db", "stats", *dd]) == 0
    out = capsys.readouterr().out
    assert "database" in out and "ticks" in out and "projected growth per day" in out
    assert " KiB" in out and "0.0 MiB" not in out
    assert main(["query", "prices", "BTC/USDT", "binance", "--from", "2024-01-01", *dd]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["time", "(UTC)", "bid", "ask", "bid_size", "ask_size"]
    assert "Z " in out.splitlines()[2]  # ISO 8601 UTC
    assert main(["query", "prices", "DOGE/USDT", "binance", *dd]) == 2
    err = capsys.readouterr().err
    assert "unknown symbol 'DOGE/USDT'" in err and "BTC/USDT" in err
    assert main(["query", "prices", "BTC/USDT", "binance", "--from", "yesterday", *dd]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`arbot --version` names the installed version and exits 0."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"arbot {version()}"
