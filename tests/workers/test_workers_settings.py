"""feeds.workers: 1 by default, a whole number or "auto"; anything else is one line naming
the key, and `arbot run` exits with the configuration error's code (3)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from arbot.errors import ConfigError
from arbot.settings import parse_settings
from tests.integration.process import ARBOT


@pytest.mark.parametrize("bad", [0, -2, 257, 2.0, "2", True, "all", [2]])
def test_a_bad_value_is_one_line_naming_the_key(bad: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"feeds": {"workers": bad}}, "arbot.toml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        'arbot.toml: feeds.workers: must be a whole number from 1 to 256, or "auto"'
    )


def test_auto_is_every_core_but_the_daemons() -> None:
    feeds = parse_settings({"feeds": {"workers": "auto"}}, "x").feeds
    assert [feeds.worker_count(cores) for cores in (1, 2, 8)] == [1, 1, 7]
    assert parse_settings({}, "x").feeds.worker_count() == 1
    assert parse_settings({"feeds": {"workers": 3}}, "x").feeds.worker_count(cores=2) == 3


@pytest.mark.integration
def test_arbot_run_exits_3_on_a_bad_value(tmp_path: Path) -> None:
    config = tmp_path / "arbot.toml"
    config.write_text('[feeds]\nworkers = "many"\n')
    result = subprocess.run(
        [ARBOT, "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert f"{config}: feeds.workers: must be a whole number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
