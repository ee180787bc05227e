"""`arbot config list|get|set|unset`: overrides stored in config.db, validated by the
settings model with errors naming the key, applied after the TOML by the daemon's loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arbot.cli import main
from arbot.overrides import load_runtime_settings
from arbot.storage.schema import init_all

TOML = """
[storage]
data_dir = "{data_dir}"

[[exchanges]]
id = "binance"
symbols = ["BTC/USDT"]
taker_fee = 0.001

[detector]
min_profit_percent = 0.1
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "arbot.toml"
    path.write_text(TOML.format(data_dir=tmp_path / "data"))
    init_all(tmp_path / "data")  # overrides live in an existing data dir's config.db
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["config", *args, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> Any:
    code, out, err = run(capsys, config, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_set_get_list_unset_and_precedence(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """An override wins over the TOML for the daemon and `get`; unset restores the file's
    value; list shows overrides oldest first."""
    assert as_json(capsys, config, "get", "detector.min_profit_percent") == {
        "key": "detector.min_profit_percent",
        "value": 0.1,
        "source": "file",
    }
    assert as_json(capsys, config, "get", "detector.cooldown")["source"] == "default"
    as_json(capsys, config, "set", "detector.min_profit_percent", "0.3")
    as_json(capsys, config, "set", "exchanges.binance.taker_fee", "0.002")
    as_json(capsys, config, "set", "logging.level", "debug")  # a bare word is a string
    listed = as_json(capsys, config, "list")
    assert [(r["key"], r["value"]) for r in listed] == [
        ("detector.min_profit_percent", 0.3),
        ("exchanges.binance.taker_fee", 0.002),
        ("logging.level", "debug"),
    ]
    settings = load_runtime_settings(config)
    assert settings.detector.min_profit_percent == 0.3
    assert settings.exchanges[0].taker_fee == 0.002
    assert settings.logging.level == "debug"
    got = as_json(capsys, config, "get", "detector.min_profit_percent")
    assert got == {"key": "detector.min_profit_percent", "value": 0.3, "source": "override"}
    as_json(capsys, config, "unset", "detector.min_profit_percent")
    assert load_runtime_settings(config).detector.min_profit_percent == 0.1
    code, _, err = run(capsys, config, "unset", "detector.min_profit_percent")
    assert code == 3 and "detector.min_profit_percent: no override is set" in err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("detector.min_profit_percent", "abc", "detector.min_profit_percent: Input should be"),
        ("detector.hysteresis_percent", "5", "hysteresis_percent must not exceed"),
        ("detector.bogus", "1", "detector.bogus: unknown key"),
        ("exchanges.kraken.taker_fee", "0.1", "exchanges.kraken.taker_fee: no exchange named"),
        ("storage.data_dir", '"/tmp/x"', "storage.data_dir: cannot be overridden"),
        ("logging", "1", "logging: not a settings key"),
    ],
)
def test_invalid_overrides_are_refused_naming_the_key(
    capsys: pytest.CaptureFixture[str], config: Path, key: str, value: str, message: str
) -> None:
    """Nothing is stored; the one error line names the key (exit 3)."""
    code, _, err = run(capsys, config, "set", key, value)
    assert code == 3 and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert as_json(capsys, config, "list") == []


def test_credentials_are_hidden_in_output(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """An override holding a secret is stored but printed as ***."""
    as_json(capsys, config, "set", "exchanges.binance.ccxt_config.apiKey", "AK-123")
    code, out, _ = run(capsys, config, "list")
    assert code == 0 and "AK-123" not in out and "***" in out
    assert load_runtime_settings(config).exchanges[0].ccxt_config == {"apiKey": "AK-123"}


def test_set_says_when_the_change_applies(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """A key a reload applies says so; one that needs a restart says that instead."""
    live = as_json(capsys, config, "set", "detector.min_profit_percent", "0.3")
    assert live["applies"].startswith("at the daemon's next reload")
    fee = as_json(capsys, config, "set", "exchanges.binance.taker_fee", "0.002")
    assert fee["applies"].startswith("at the daemon's next reload")
    restart = as_json(capsys, config, "set", "detector.quote_groups", '[["USDT", "USD"]]')
    assert restart["applies"].startswith("at the daemon's next start")
    storage = as_json(capsys, config, "set", "storage.batch_size", "1000")
    assert "a reload does not apply it" in storage["applies"]


def test_an_exchange_key_without_a_config_file_names_the_missing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.setattr("arbot.settings.DEFAULT_CONFIG", tmp_path / "absent.toml")
    init_all(tmp_path / "data")
    argv = ["exchanges.kraken.taker_fee", "0.002", "--data-dir", str(tmp_path / "data")]
    assert main(["config", "set", *argv]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no config file was read" in err[0], err
    assert "absent.toml does not exist" in err[0] and "--config" in err[0]
