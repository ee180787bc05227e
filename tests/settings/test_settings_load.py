"""The shipped example config parses; the data directory and config path overrides."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from arbot.cli.common import resolve_settings
from arbot.settings import DEFAULT_CONFIG, NotifyTarget, Settings, config_path, load_settings

SHIPPED = Path(__file__).parents[2] / "config" / "arbot.toml"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)


def test_the_shipped_example_parses() -> None:
    settings = load_settings(SHIPPED)
    assert [(e.id, e.name) for e in settings.exchanges] == [
        ("binance", "binance"),
        ("okx", "okx"),
        ("kraken", "kraken"),
    ]
    assert settings.storage.data_dir == Path("/var/lib/arbot")
    assert settings.exchanges[2].taker_fee == 0.0026
    assert settings.exchanges[0].ccxt_options == {"fetchMarkets": {"types": ["spot"]}}
    assert set(settings.paper.balances) == {"binance", "okx", "kraken"}


def test_the_shipped_example_names_every_setting() -> None:
    """A complete example: every key of every section is set or shown commented out (keys
    without a TOML value, such as an unset path), under its section."""
    text = SHIPPED.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^#? ?\[(\w+)\]\n(.*?)(?=^#? ?\[|\Z)", text, re.M | re.S))
    missing = [
        f"{name}.{key}"
        for name, field in Settings.model_fields.items()
        if name not in ("exchanges", "notify")
        for key in field.annotation.model_fields  # type: ignore[union-attr]
        if not re.search(rf"^#? ?{key} = ", sections.get(name, ""), re.M)
        and f"[{name}.{key}." not in text
    ]
    assert not missing, missing
    notify = text.partition("# [[notify]]\n")[2]
    absent = [k for k in NotifyTarget.model_fields if not re.search(rf"^# {k} = ", notify, re.M)]
    assert not absent, absent


def test_the_shipped_example_states_the_defaults() -> None:
    """Its values are the built-in defaults (apart from the exchanges and paper balances it
    lists), so the commented file documents what an empty file means."""
    shipped = load_settings(SHIPPED).model_dump(exclude={"exchanges": True, "paper": {"balances"}})
    defaults = Settings().model_dump(exclude={"exchanges": True, "paper": {"balances"}})
    assert shipped == defaults


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "arbot.toml"
    path.write_text("", encoding="utf-8")
    assert load_settings(path) == Settings()


def test_settings_are_frozen() -> None:
    settings = load_settings(SHIPPED)
    with pytest.raises(ValueError, match="frozen"):
        settings.storage.batch_size = 1  # type: ignore[misc]


def test_arbot_data_dir_overrides_the_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ARBOT_DATA_DIR", str(tmp_path / "env"))
    settings = load_settings(SHIPPED)
    assert settings.storage.data_dir == tmp_path / "env"
    assert settings.backup_dir == tmp_path / "env" / "backups"


def test_an_explicit_data_dir_beats_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ARBOT_DATA_DIR", str(tmp_path / "env"))
    assert load_settings(SHIPPED, tmp_path / "cli").storage.data_dir == tmp_path / "cli"


def args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"config": None, "data_dir": None, **kw})


def test_data_dir_option_overrides_config_and_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--data-dir > $ARBOT_DATA_DIR > storage.data_dir, with and without a config file."""
    monkeypatch.setenv("ARBOT_DATA_DIR", str(tmp_path / "env"))
    with_config = resolve_settings(args(config=str(SHIPPED), data_dir=tmp_path / "cli"))
    assert with_config.storage.data_dir == tmp_path / "cli"
    assert resolve_settings(args(config=str(SHIPPED))).storage.data_dir == tmp_path / "env"
    monkeypatch.setattr("arbot.cli.common.config_path", lambda _: tmp_path / "absent.toml")
    assert resolve_settings(args(data_dir=tmp_path / "cli")).storage.data_dir == tmp_path / "cli"
    assert resolve_settings(args()).storage.data_dir == tmp_path / "env"


def test_config_path_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """--config > $ARBOT_CONFIG > /etc/arbot/arbot.toml."""
    assert config_path(None) == DEFAULT_CONFIG
    monkeypatch.setenv("ARBOT_CONFIG", "/env/arbot.toml")
    assert config_path(None) == Path("/env/arbot.toml")
    assert config_path("/cli/arbot.toml") == Path("/cli/arbot.toml")
