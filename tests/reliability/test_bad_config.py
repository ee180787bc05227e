"""Scenario 8: bad configuration. Every broken document (TOML syntax, wrong types and
values, unknown or missing keys, contradictory values) stops the daemon before anything
starts: exit 3, a message naming the file and the key (or line), never a traceback."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from arbot.cli import main
from arbot.errors import EXIT_CONFIG
from tests.reliability.bad_config import BROKEN_LINES, Defect, base_doc, defects
from tests.reliability.config import free_port, to_toml
from tests.reliability.daemon import start_args, start_once
from tests.reliability.summary import brief

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def run_in_process(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(start_args(config))
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture
def base(tmp_path: Path) -> dict[str, object]:
    return base_doc(tmp_path / "data", free_port())


@PROPERTY
@given(data=st.data())
def test_invalid_values_name_file_and_key(
    data: st.DataObject,
    base: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    figures: dict[str, object],
) -> None:
    """Wrong types, out-of-range values, unknown and missing keys, contradictions: exit 3
    and the message names the config file and the offending key."""
    defect: Defect = data.draw(defects(base))
    config = tmp_path / "arbot.toml"
    config.write_text(to_toml(defect.doc), encoding="utf-8")
    code, message = run_in_process(config, capsys)
    figures["cases"] = int(str(figures.get("cases", 0))) + 1
    assert code == EXIT_CONFIG, f"{defect.what}: exit {code}: {message}"
    assert str(config) in message, defect.what
    assert defect.key in message, f"{defect.what}: {message}"
    assert "Traceback" not in message


@PROPERTY
@given(edit=st.tuples(st.sampled_from(BROKEN_LINES), st.integers(0, 10_000)))
def test_broken_toml_names_file_and_line(
    edit: tuple[str, int],
    base: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    figures: dict[str, object],
) -> None:
    """A document that is not TOML at all: exit 3 naming the file and where it breaks."""
    line, at = edit
    lines = to_toml(base).splitlines()
    lines.insert(at % (len(lines) + 1), line)
    text = "\n".join(lines)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        pass
    else:
        assume(False)
    config = tmp_path / "arbot.toml"
    config.write_text(text, encoding="utf-8")
    code, message = run_in_process(config, capsys)
    figures["cases"] = int(str(figures.get("cases", 0))) + 1
    assert code == EXIT_CONFIG, message
    assert f"{config}: not valid TOML" in message
    assert "(at line " in message or "(at end of document)" in message
    assert "Traceback" not in message


def _unreadable(tmp_path: Path, base: dict[str, object]) -> tuple[Path, str]:
    return tmp_path / "missing.toml", "cannot read config file"


def _directory(tmp_path: Path, base: dict[str, object]) -> tuple[Path, str]:
    path = tmp_path / "dir.toml"
    path.mkdir()
    return path, "cannot read config file"


def _not_utf8(tmp_path: Path, base: dict[str, object]) -> tuple[Path, str]:
    path = tmp_path / "latin1.toml"
    path.write_bytes(to_toml(base).encode() + b"\n# caf\xe9\n")
    return path, "not valid TOML"


def _syntax(tmp_path: Path, base: dict[str, object]) -> tuple[Path, str]:
    path = tmp_path / "syntax.toml"
    path.write_text(to_toml(base).replace("[storage]", "[storage"), encoding="utf-8")
    return path, "not valid TOML"


def _wrong_type(tmp_path: Path, base: dict[str, object]) -> tuple[Path, str]:
    path = tmp_path / "type.toml"
    path.write_text(
        to_toml(base).replace("[service]", '[service]\ngrace_timeout = "soon"'), encoding="utf-8"
    )
    return path, "service.grace_timeout"


def _unknown_key(tmp_path: Path, base: dict[str, object]) -> tuple[Path, str]:
    path = tmp_path / "unknown.toml"
    path.write_text(
        to_toml(base).replace("[storage]", "[storage]\nbatchsize = 10"), encoding="utf-8"
    )
    return path, "storage.batchsize: unknown key"


@pytest.mark.integration
@pytest.mark.parametrize(
    "make",
    [_unreadable, _directory, _not_utf8, _syntax, _wrong_type, _unknown_key],
    ids=lambda f: f.__name__.strip("_"),
)
def test_bad_config_subprocess(
    make: object, base: dict[str, object], tmp_path: Path, figures: dict[str, object]
) -> None:
    """The same through the real process: exit 3, file and key named on stderr, no
    traceback, and nothing created in the data dir."""
    assert callable(make)
    config, expected = make(tmp_path, base)
    result = start_once(config)
    figures.update(exit=result.returncode, message=brief(result.stderr, tmp_path))
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert str(config) in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()
