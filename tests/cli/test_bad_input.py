"""Every option and positional of every `arbot` command, fed bad values: each gets one line
naming the problem and an exit code from the README's table (2-5), never a traceback and
never exit 0 or 1. The cases come from walking the real argparse tree, so a new option is
covered the day it is added (an option of an unknown kind fails `test_every_option_is_walked`).
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.cli import build_parser, common, main
from arbot.settings import Settings, StorageSettings
from arbot.storage.schema import init_all

TABLE_CODES = {2, 3, 4, 5}
# Commands that create a missing data directory (a missing one is not a mistake there).
CREATING = {"db init", "db restore", "demo", "run", "replay", "backtest"}
# Commands that never open the data dir's arbot.db (a foreign one there is not their business).
NOT_READING_ARBOT_DB = {"db restore", "backtest", "notify list", "notify test"}
# Commands that never touch the data dir (only to act as its owner when it exists).
NOT_USING_DATA_DIR = {"notify list", "notify test"}


@dataclass(frozen=True)
class Case:
    command: str
    dest: str
    flag: str | None  # None: a positional
    value: str  # a literal, or "@name" for a path made by the `world` fixture

    @property
    def id(self) -> str:
        return f"{self.command} {self.flag or self.dest}={self.value}"


def leaves(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from leaves(child, f"{path} {name}".strip())


NUMBER = ["abc", "-5", "nan", "inf", "1e400", "99999999999999999999"]
BAD_VALUES: dict[object, list[str]] = {
    common.positive_int: [*NUMBER, "0", "2.5"],
    common.book_depth: [*NUMBER, "0", "2.5", "1001"],
    common.positive_float: [*NUMBER, "0"],
    common.hours: [*NUMBER, "0", "876001"],
    common.days: [*NUMBER, "0", "36501", "1.5"],
    common.finite_float: ["abc", "nan", "-inf"],
    common.fraction: ["abc", "nan", "-0.1", "1", "5"],
    common.timestamp: ["yesterday", "nan", "-1", "1e400", "2024-13-45"],
    common.listen_address: ["nonsense", "127.0.0.1:99999", "127.0.0.1:0", ":9108", "h:-1"],
    common.utc_day: ["2999-01-01", "yesterday", "2024-02-30"],
    common.input_file: ["@missing", "@directory", "@binary", "@gzip", "@foreign_sqlite"],
}
PATH_VALUES = ["@missing", "@binary", "@uncreatable", "@foreign_dir"]
CONFIG_VALUES = ["@missing", "@directory", "@binary", "@gzip", "@bad_port_toml", "@bad_key_toml"]
STRING_VALUES = {
    "symbol": ["NOPE/USDT"],
    "exchange": ["nope"],
    "sql": ["DROP TABLE ticks", "", "SELECT * FROM nope"],
    "set": ["=", "x", "detector.nope=1", "detector.min_profit_percent=abc"],
    "key": ["nope", "detector.nope", "exchanges.nope.taker_fee"],
    "value": ["abc", "-1", "[1"],
    "target": ["nope", "0"],
}
SKIPPED = (argparse._HelpAction, argparse._VersionAction, argparse._StoreTrueAction)


def values_for(command: str, action: argparse.Action) -> list[str]:
    if action.choices is not None:
        return ["nope"]
    if action.type in BAD_VALUES:
        return BAD_VALUES[action.type]
    if action.dest == "config":
        return CONFIG_VALUES
    if action.type is Path:
        if action.dest == "data_dir" and command in NOT_USING_DATA_DIR:
            return []
        values = PATH_VALUES
        if command in CREATING or action.dest == "dest":  # a new backup dir is made
            values = [v for v in values if v != "@missing"]
        if command in NOT_READING_ARBOT_DB or action.dest == "dest":
            values = [v for v in values if v != "@foreign_dir"]
        return values
    return STRING_VALUES.get(action.dest, [])


def all_cases() -> list[Case]:
    cases = []
    for command, parser in leaves(build_parser()):
        for action in parser._actions:
            if isinstance(action, SKIPPED):
                continue
            flag = action.option_strings[-1] if action.option_strings else None
            cases += [Case(command, action.dest, flag, v) for v in values_for(command, action)]
    return cases


CASES = all_cases()


def test_every_option_is_walked() -> None:
    """Each option of each command gets at least one bad value, so none is forgotten."""
    walked = {(c.command, c.dest) for c in CASES}
    for command, parser in leaves(build_parser()):
        for action in parser._actions:
            ignored = action.dest == "data_dir" and command in NOT_USING_DATA_DIR
            if not isinstance(action, SKIPPED) and not ignored:
                assert (command, action.dest) in walked, f"{command} {action.dest}: no bad values"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-input")
    data = root / "data"
    init_all(data)
    conn = sqlite3.connect(data / "arbot.db")
    insert_ticks(conn, random_ticks(50, time.time() - 600, 300))
    conn.commit()
    conn.close()
    foreign = root / "foreign.db"
    other = sqlite3.connect(foreign)
    other.execute("CREATE TABLE songs (title TEXT)")
    other.commit()
    other.close()
    (root / "foreign_dir").mkdir()
    (root / "foreign_dir" / "arbot.db").write_bytes(foreign.read_bytes())
    (root / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (root / "quotes.csv.gz").write_bytes(gzip.compress(b"ts,exchange,symbol\n1,a,B/C\n"))
    (root / "directory").mkdir()
    (root / "bad_port.toml").write_text('[metrics]\nlisten = "127.0.0.1:99999"\n')
    (root / "bad_key.toml").write_text("[storage]\nbatch_sise = 5\n")
    (root / "good.toml").write_text(
        '[[exchanges]]\nid = "binance"\nsymbols = ["BTC/USDT"]\n'
        'url_override = "http://127.0.0.1:9"\n'
    )
    (root / "quotes.csv").write_text(
        "ts,exchange,symbol,bid,bid_size,ask,ask_size\n"
        "1700000000,a,BTC/USDT,100,1,101,1\n1700000001,b,BTC/USDT,100,1,101,1\n"
    )
    return {
        "root": root,
        "data": data,
        "@missing": root / "nope" / "missing",
        "@directory": root / "directory",
        "@binary": root / "binary.bin",
        "@gzip": root / "quotes.csv.gz",
        "@foreign_sqlite": foreign,
        "@foreign_dir": root / "foreign_dir",
        "@uncreatable": Path("/proc/nope/data"),
        "@bad_port_toml": root / "bad_port.toml",
        "@bad_key_toml": root / "bad_key.toml",
        "good.toml": root / "good.toml",
        "quotes.csv": root / "quotes.csv",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_args(command: str, world: dict[str, Path], backup: Path) -> dict[str, list[str]]:
    """Good values for everything a command needs, keyed by dest (the case replaces one)."""
    data = str(world["data"])
    args: dict[str, list[str]] = {"data_dir": ["--data-dir", data]}
    if command == "query prices":
        args |= {"symbol": ["BTC/USDT"], "exchange": ["binance"]}
    elif command == "db explain":
        args["sql"] = ["SELECT 1"]
    elif command == "db restore":
        args["file"] = [str(backup)]
    elif command == "replay":
        args |= {
            "file": [str(world["quotes.csv"])],
            "data_dir": ["--data-dir", str(world["root"] / "rp")],
        }
    elif command == "backtest":
        args |= {
            "csv": [str(world["quotes.csv"])],
            "data_dir": ["--data-dir", str(world["root"] / "bt")],
        }
    elif command == "run":
        args["config"] = ["--config", str(world["good.toml"])]
    elif command in ("config get", "config set", "config unset"):
        args["key"] = ["detector.min_profit_percent"]
        if command == "config set":
            args["value"] = ["0.2"]
    elif command == "demo":
        args |= {
            "data_dir": ["--data-dir", str(world["root"] / "demo")],
            "duration": ["--duration", "0.5"],
            "metrics_listen": ["--metrics-listen", f"127.0.0.1:{free_port()}"],
        }
    return args


@pytest.fixture(scope="module")
def backup(world: dict[str, Path]) -> Path:
    assert main(["db", "backup", "--db", "config", "--data-dir", str(world["data"]),
                 "--dest", str(world["root"] / "backups"), "--json"]) == 0  # fmt: skip
    return next((world["root"] / "backups").glob("config_*.db.gz"))


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # a default ./demo-data or ./data lands in the test's dir
    yield
    # `run` and `demo` configure logging onto this test's captured stderr, closed after it.
    structlog.reset_defaults()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id) for c in CASES]
)  # fmt: skip
def test_bad_value_gets_one_line_and_a_table_exit_code(
    case: Case,
    world: dict[str, Path],
    backup: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One bad value -> exit 2..5 with a one-line message, no traceback, nothing else."""
    value = str(world[case.value]) if case.value.startswith("@") else case.value
    args = base_args(case.command, world, backup)
    args[case.dest] = [case.flag, value] if case.flag else [value]
    positionals = [
        dest
        for dest in ("symbol", "exchange", "sql", "file", "csv", "key", "value")
        if dest in args
    ]
    argv = case.command.split()
    for dest in positionals:
        argv += args.pop(dest)
    for items in args.values():
        argv += items

    code = main(argv)

    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert code in TABLE_CODES, f"exit {code}: {err or out}"
    # One line: the tool's or argparse's `error: ...`, or the daemon's final daemon_failed.
    [line] = [line for line in err.splitlines() if line.strip()]
    assert "error" in line


@pytest.mark.timeout(120)
def test_a_demo_that_cannot_start_reports_its_own_failure(tmp_path: Path) -> None:
    """A real process: one daemon_failed line, the demo's own verdict, no RuntimeWarning
    and no summary of a database this run did not fill."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "arbot", "demo", "--data-dir", str(blocker), "--duration", "5",
         "--metrics-listen", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=100, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 4
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert '"daemon_failed"' in line and "cannot create data directory" in line
    assert done.stdout.strip().splitlines()[-1] == "demo failed (exit 4): see the error above"


def test_writing_commands_do_not_create_the_default_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """replay and backtest without --data-dir, ARBOT_DATA_DIR or a config file refuse a
    default data dir that does not exist (exit 4, one line) instead of creating it; with
    --no-store a replay still runs, and an explicit --data-dir is created."""
    absent = tmp_path / "var-lib-arbot"

    class Defaults(Settings):
        storage: StorageSettings = StorageSettings(data_dir=absent)

    monkeypatch.setattr(common, "Settings", Defaults)
    monkeypatch.setattr(common, "config_path", lambda _: tmp_path / "no-such.toml")
    for name in ("ARBOT_CONFIG", "ARBOT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    csv = tmp_path / "q.csv"
    csv.write_text("ts,exchange,symbol,bid,bid_size,ask,ask_size\n1723161254,a,BTC/USDT,1,1,2,1\n")
    for argv in (["replay", str(csv)], ["backtest", str(csv)]):
        assert main(argv) == 4, argv
        [line] = capsys.readouterr().err.strip().splitlines()
        assert f"{absent}: no such data directory, and none was chosen" in line
        assert "--data-dir" in line and not absent.exists()
    assert main(["replay", str(csv), "--no-store"]) == 0
    assert main(["replay", str(csv), "--data-dir", str(tmp_path / "chosen")]) == 0
    assert (tmp_path / "chosen" / "arbot.db").exists() and not absent.exists()
