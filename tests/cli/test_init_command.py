"""`arbot db init`: creates or migrates the four files, idempotent; refuses foreign, corrupt,
truncated and newer files with exit code 4, naming the file and leaving everything untouched."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from arbot.cli import main
from arbot.errors import EXIT_CONFIG, EXIT_DATABASE
from arbot.storage.connection import DATABASES, db_path
from arbot.storage.schema import migrations

FILES = sorted(f"{db}.db" for db in DATABASES)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config (all defaults), so no /etc/arbot/arbot.toml or environment leaks in."""
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    path = tmp_path / "arbot.toml"
    path.write_text("", encoding="utf-8")
    return path


def init(config: Path, *extra: str) -> int:
    return main(["db", "init", "--config", str(config), *extra])


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file in `folder`: content hash and modification time."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def test_init_creates_the_four_files(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "new" / "data"
    assert init(config, "--data-dir", str(data), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "data_dir": str(data),
        "schema_versions": {db: len(migrations(db)) for db in DATABASES},
    }
    assert sorted(p.name for p in data.iterdir()) == FILES


def test_init_twice_changes_nothing(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert init(config, "--data-dir", str(data)) == 0
    before = {name: content for name, (content, _) in snapshot(data).items()}
    assert init(config, "--data-dir", str(data)) == 0
    assert {name: content for name, (content, _) in snapshot(data).items()} == before


def test_data_dir_comes_from_the_environment_unless_given(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBOT_DATA_DIR", str(tmp_path / "env"))
    assert init(config) == 0
    assert sorted(p.name for p in (tmp_path / "env").iterdir()) == FILES
    assert init(config, "--data-dir", str(tmp_path / "cli")) == 0
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == FILES


def test_a_config_error_exits_3_naming_the_file(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text("[storage]\ncache_size_kib = 'big'\n", encoding="utf-8")
    assert init(config, "--data-dir", str(tmp_path / "data")) == EXIT_CONFIG
    assert f"{config}: storage.cache_size_kib: " in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def refused(config: Path, data: Path, capsys: pytest.CaptureFixture[str], bad: Path) -> str:
    """Run init on `data`; assert exit 4, the bad file named, and every file that was in
    `data` unchanged (content and mtime). New files: see test_a_refused_init_adds_no_files."""
    before = snapshot(data)
    assert init(config, "--data-dir", str(data)) == EXIT_DATABASE
    err = capsys.readouterr().err
    assert err.startswith(f"arbot: error: {bad}: "), err
    after = snapshot(data)
    assert {name: after.get(name) for name in before} == before
    return err


def write_foreign_sqlite(path: Path, journal_mode: str = "delete") -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("db", DATABASES)
def test_a_text_file_is_refused_before_anything_is_created(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = db_path(data, db)
    bad.write_text("timestamp,bid,ask\n1,2,3\n" * 20, encoding="utf-8")
    assert "not an SQLite database" in refused(config, data, capsys, bad)
    assert [p.name for p in data.iterdir()] == [bad.name]


@pytest.mark.parametrize("db", DATABASES)
def test_another_applications_database_is_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = db_path(data, db)
    write_foreign_sqlite(bad)
    assert "another application" in refused(config, data, capsys, bad)
    assert [p.name for p in data.iterdir()] == [bad.name]


def test_another_applications_wal_database_gets_no_sibling_files(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = db_path(data, "arbot")
    write_foreign_sqlite(bad, "wal")
    refused(config, data, capsys, bad)
    assert [p.name for p in data.iterdir()] == [bad.name]


@pytest.fixture
def initialised(config: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    assert init(config, "--data-dir", str(data)) == 0
    return data


@pytest.mark.parametrize("db", DATABASES)
def test_a_truncated_database_is_refused(
    config: Path, initialised: Path, capsys: pytest.CaptureFixture[str], db: str
) -> None:
    bad = db_path(initialised, db)
    content = bad.read_bytes()
    bad.write_bytes(content[: len(content) // 2])
    assert "truncated" in refused(config, initialised, capsys, bad)


def test_a_refused_init_adds_no_files(
    config: Path, initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The healthy files checked before the bad one get no -wal/-shm companions."""
    bad = db_path(initialised, "backtest")
    bad.write_bytes(bad.read_bytes()[:4096])
    refused(config, initialised, capsys, bad)
    assert sorted(p.name for p in initialised.iterdir()) == FILES


def test_a_database_cut_inside_its_header_is_refused(
    config: Path, initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = db_path(initialised, "config")
    bad.write_bytes(bad.read_bytes()[:60])
    assert "not an SQLite database" in refused(config, initialised, capsys, bad)


def bump_version(path: Path, db: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(migrations(db)) + 1}")
    conn.close()


@pytest.mark.parametrize("db", DATABASES)
def test_a_newer_database_is_refused_untouched(
    config: Path, initialised: Path, capsys: pytest.CaptureFixture[str], db: str
) -> None:
    bad = db_path(initialised, db)
    bump_version(bad, db)
    err = refused(config, initialised, capsys, bad)
    assert f"schema version {len(migrations(db)) + 1} is newer" in err


def test_a_newer_database_in_rollback_journal_mode_is_refused_untouched(
    config: Path, initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = db_path(initialised, "historical")
    conn = sqlite3.connect(bad)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    bump_version(bad, "historical")
    refused(config, initialised, capsys, bad)


def test_a_newer_file_is_refused_before_any_file_is_created(
    config: Path, initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path(initialised, "arbot").unlink()
    bump_version(db_path(initialised, "backtest"), "backtest")
    refused(config, initialised, capsys, db_path(initialised, "backtest"))
    assert not db_path(initialised, "arbot").exists()


def test_tools_create_files_under_the_service_umask(tmp_path: Path) -> None:
    """Run from a shell with umask 022, `arbot db init` still creates what the service
    (UMask=0027) would: nothing readable by others."""
    data = tmp_path / "data"
    script = (
        "import os, sys; os.umask(0o022); from arbot.cli import main; "
        f"sys.exit(main(['db', 'init', '--data-dir', {str(data)!r}]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOT_")}
    done = subprocess.run([sys.executable, "-c", script], env=env, check=False)
    assert done.returncode == 0
    created = [data, *data.rglob("*")]
    assert len(created) > 4
    assert all(p.stat().st_mode & 0o007 == 0 for p in created), [
        (str(p), oct(p.stat().st_mode)) for p in created
    ]
