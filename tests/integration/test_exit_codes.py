"""`arbot run` refuses to start on operator errors with the documented exit codes and a
message naming the file and key (config, 3) or the database file (database, 4)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.process import ARBOT
from tests.reliability.config import daemon_doc, exchange, free_port, write_config

pytestmark = pytest.mark.integration


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ARBOT, "run", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_unknown_config_key_exits_3(tmp_path: Path) -> None:
    """A misspelt key stops start-up; stderr names the file and the key path."""
    config = tmp_path / "arbot.toml"
    config.write_text('[storage]\ndata_dir = "x"\nbatch_sise = 10\n')
    result = run("--config", str(config))
    assert result.returncode == 3
    assert f"{config}: storage.batch_sise: unknown key" in result.stderr


def test_missing_config_file_exits_3(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 3
    assert "nope.toml: cannot read config file" in result.stderr


def test_corrupt_database_exits_4_and_is_left_alone(tmp_path: Path) -> None:
    """A foreign arbot.db stops start-up before any exchange is contacted."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    junk = b"\x00garbage" * 200
    (data_dir / "arbot.db").write_bytes(junk)
    doc = daemon_doc(data_dir, [exchange("binance", "binance", "http://127.0.0.1:9")], free_port())
    result = run("--config", str(write_config(tmp_path / "arbot.toml", doc)))
    assert result.returncode == 4, result.stderr
    assert "arbot.db: not an SQLite database" in result.stderr
    assert (data_dir / "arbot.db").read_bytes() == junk
