"""`arbot backtest` records runs in backtest.db, sweeps --set values as a cartesian
product, rejects unknown keys by name; `arbot db rollup` writes a day's rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from arbot.cli import main
from arbot.cli.backtest import apply_overrides, combinations, parse_sets
from arbot.errors import EXIT_CONFIG, EXIT_USAGE, ConfigError
from arbot.settings import Settings
from tests.backtest.data import T0, quotes, write_csv
from tests.helpers import read


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


def test_sweep_records_one_run_per_combination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two values of one key times two of another: four runs, one sweep, a table of four."""
    csv_path = write_csv(tmp_path / "q.csv")
    out_dir = tmp_path / "data"
    code = main([
        "backtest", str(csv_path), "--data-dir", str(out_dir), "--json",
        "--set", "detector.min_profit_percent=0.1", "--set", "detector.min_profit_percent=0.5",
        "--set", "paper.latency_ms=0", "--set", "paper.latency_ms=300",
    ])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    table = out["runs"]
    assert [r["overrides"] for r in table] == [
        {"detector.min_profit_percent": 0.1, "paper.latency_ms": 0},
        {"detector.min_profit_percent": 0.1, "paper.latency_ms": 300},
        {"detector.min_profit_percent": 0.5, "paper.latency_ms": 0},
        {"detector.min_profit_percent": 0.5, "paper.latency_ms": 300},
    ]
    runs = read(
        out_dir,
        "SELECT sweep_id, status, input, time_from, settings_json FROM backtest_runs",
        "backtest",
    )
    assert len(runs) == 4 and {r[0] for r in runs} == {out["sweep"]}
    assert {r[1] for r in runs} == {"completed"} and runs[0][2] == str(csv_path)
    assert runs[0][3] == T0
    assert json.loads(str(runs[2][4]))["detector"]["min_profit_percent"] == 0.5
    # 0.6 % gross minus 0.2 % fees is above 0.1 % but below 0.5 %: no signal at 0.5.
    assert [r["signals"] for r in table] == [2, 2, 0, 0]
    assert read(out_dir, "SELECT count(*) FROM backtest_results", "backtest") == [(4,)]
    assert read(out_dir, "SELECT count(*) FROM backtest_trades", "backtest") == [(4,)]
    # No [[exchanges]] configured: both run with an [[exchanges]] entry's defaults.
    assert [(f["exchange"], f["taker_fee_percent"], f["from"]) for f in out["fees"]] == [
        ("binance", 0.1, "defaults (not in config)"),
        ("okx", 0.1, "defaults (not in config)"),
    ]


def test_rerun_records_identical_results(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "q.csv")
    out_dir = tmp_path / "data"
    for _ in range(2):
        assert main(["backtest", str(csv_path), "--data-dir", str(out_dir), "--json"]) == 0
    results = read(out_dir, "SELECT * FROM backtest_results ORDER BY run_id", "backtest")
    assert [r[1:] for r in results[:1]] == [r[1:] for r in results[1:]]
    trades = read(
        out_dir, "SELECT run_id, symbol, signal_time, quantity, actual_profit, fees_paid, status,"
        " error_message FROM backtest_trades ORDER BY id", "backtest",
    )  # fmt: skip
    assert [t[1:] for t in trades if t[0] == 1] == [t[1:] for t in trades if t[0] == 2]


def test_unknown_set_key_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = write_csv(tmp_path / "q.csv")
    code = main([
        "backtest", str(csv_path), "--data-dir", str(tmp_path / "d"),
        "--set", "detector.min_profit_percent=0.2", "--set", "detector.min_proft=1",
    ])  # fmt: skip
    assert code == EXIT_CONFIG
    assert "detector.min_proft: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "d" / "backtest.db").exists()  # nothing ran


def test_invalid_value_fails_naming_key_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = write_csv(tmp_path / "q.csv")
    code = main(
        ["backtest", str(csv_path), "--data-dir", str(tmp_path), "--set", "paper.latency_ms=-5"]
    )
    assert code == EXIT_CONFIG
    assert "paper.latency_ms" in capsys.readouterr().err


def test_from_db_replays_the_requested_range(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(data_dir / "arbot.db")
    conn.executemany(
        "INSERT INTO tickers (timestamp, exchange, symbol, bid, bid_size, ask, ask_size)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        quotes(),
    )
    conn.commit()
    conn.close()
    out_dir = tmp_path / "out"
    code = main([
        "backtest", "--from-db", str(data_dir), "--from", "2024-08-08T10:00:00",
        "--to", str(T0 + 5), "--data-dir", str(out_dir), "--json",
    ])  # fmt: skip
    assert code == 0
    [row] = json.loads(capsys.readouterr().out)["runs"]
    assert (row["ticks"], row["signals"], row["filled"]) == (100, 1, 1)
    assert read(out_dir, "SELECT time_from, time_to FROM backtest_runs", "backtest") == [
        (T0, T0 + 5)
    ]


def test_source_arguments_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--data-dir", str(tmp_path)]) == EXIT_USAGE
    assert "either a CSV file or --from-db" in capsys.readouterr().err
    assert main(["backtest", "--from-db", str(tmp_path), "--from", "1", "--to", "0"]) == EXIT_USAGE
    assert "must be after --from (1970-01-01T00:00:01Z)" in capsys.readouterr().err
    # A missing --from-db directory is named as the option's, not --data-dir's.
    missing = tmp_path / "nope"
    assert main(["backtest", "--from-db", str(missing), "--from", "1", "--to", "2"]) == 4
    assert f"{missing}: no such data directory; check --from-db" in capsys.readouterr().err


def test_parse_sets_and_cartesian_product() -> None:
    sets = parse_sets(["a.x=1", "b.y=ws", "a.x=2", "a.x=1", "b.y=true"])
    assert sets == {"a.x": [1, 2], "b.y": ["ws", True]}
    assert combinations(sets) == [
        {"a.x": 1, "b.y": "ws"}, {"a.x": 1, "b.y": True},
        {"a.x": 2, "b.y": "ws"}, {"a.x": 2, "b.y": True},
    ]  # fmt: skip
    assert combinations({}) == [{}]


def test_db_rollup_command_writes_the_day(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["db", "rollup", "--date", "2024-08-08", "--data-dir", str(data_dir), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["performance"]["date"] == "2024-08-08"
    conn = sqlite3.connect(data_dir / "arbot.db")
    assert conn.execute("SELECT date FROM performance_metrics").fetchall() == [("2024-08-08",)]
    conn.close()


def test_overrides_reach_list_items_by_index_and_name_bad_paths() -> None:
    base = Settings.model_validate({"exchanges": [{"id": "okx", "symbols": ["BTC/USDT"]}]})
    assert apply_overrides(base, {"exchanges.0.taker_fee": 0.002}).exchanges[0].taker_fee == 0.002
    # By name, as `arbot config set exchanges.okx.taker_fee` takes it.
    assert apply_overrides(base, {"exchanges.okx.taker_fee": 0.003}).exchanges[0].taker_fee == 0.003
    with pytest.raises(ConfigError, match=r"exchanges\.kraken is not an item of the list"):
        apply_overrides(base, {"exchanges.kraken.taker_fee": 0.002})
    with pytest.raises(ConfigError, match=r"exchanges\.1 is not an item of the list"):
        apply_overrides(base, {"exchanges.1.taker_fee": 0.002})
    with pytest.raises(ConfigError, match=r"detector\.cooldown is not a settings section"):
        apply_overrides(base, {"detector.cooldown.x": 1})
    with pytest.raises(ConfigError, match=r"exchanges\[0\]\.taker_fee: Input should be less"):
        apply_overrides(base, {"exchanges.0.taker_fee": 2})
