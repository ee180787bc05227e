"""One mistake, one behaviour: a mistyped data directory (or one without databases) gets the
same message and exit code from every command that reads existing data; backup and restore
errors say which side (source or destination) and which file failed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from arbot.cli import main
from arbot.errors import EXIT_DATABASE

READERS = [
    ["db", "stats"],
    ["db", "prune"],
    ["db", "backup"],
    ["db", "explain", "SELECT 1"],
    ["db", "maintain"],
    ["db", "rollup", "--date", "2024-08-08"],
    ["query", "prices", "BTC/USDT", "binance"],
    ["query", "spreads"],
    ["query", "signals"],
    ["query", "performance"],
]


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


def errors(argvs: list[list[str]], capsys: pytest.CaptureFixture[str]) -> set[tuple[int, str]]:
    seen = set()
    for argv in argvs:
        code = main(argv)
        seen.add((code, capsys.readouterr().err.strip()))
    return seen


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_wrong_data_dir_is_reported_alike_by_every_reader(
    tmp_path: Path, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing dir or no arbot.db: one message, exit 4, and nothing is created; `backtest
    --from-db DIR` says the same of the option that named the directory."""
    data = tmp_path / "typo"
    if state == "empty":
        data.mkdir()
    argvs = [[*argv, "--data-dir", str(data)] for argv in READERS]
    [(code, message)] = errors(argvs, capsys)
    assert code == EXIT_DATABASE
    assert str(data) in message and "--data-dir" in message and "\n" not in message
    from_db = ["backtest", "--from-db", str(data), "--from", "1", "--to", "2",
               "--data-dir", str(tmp_path / "bt")]  # fmt: skip
    [(code, by_option)] = errors([from_db], capsys)
    assert (code, by_option) == (
        EXIT_DATABASE,
        message.replace("--data-dir / storage.data_dir", "--from-db"),
    )
    assert (not data.exists()) if state == "missing" else list(data.iterdir()) == []


def test_backup_errors_name_the_side(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination that is a file is the destination's fault, named as such."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["db", "backup", "--db", "arbot", "--data-dir", str(data_dir),
                 "--dest", str(blocker)]) == EXIT_DATABASE  # fmt: skip
    err = capsys.readouterr().err
    assert f"destination {blocker}" in err


def test_restore_errors_name_the_side(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged backup is the source's fault; an uncreatable data dir the destination's."""
    damaged = tmp_path / "arbot_20240808_040000.db.gz"
    damaged.write_bytes(gzip.compress(b"SQLite format 3\x00" + b"\x00" * 4000)[:-20])
    assert main(["db", "restore", str(damaged), "--data-dir", str(data_dir)]) == EXIT_DATABASE
    assert f"source {damaged}" in capsys.readouterr().err

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    good = tmp_path / "backups"
    assert main(["db", "backup", "--db", "arbot", "--data-dir", str(data_dir),
                 "--dest", str(good)]) == 0  # fmt: skip
    capsys.readouterr()
    [backup] = good.glob("arbot_*.db.gz")
    assert main(["db", "restore", str(backup), "--data-dir", str(blocker / "d")]) == EXIT_DATABASE
    assert f"destination {blocker / 'd'}" in capsys.readouterr().err
