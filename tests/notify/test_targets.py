"""Targets' URLs come from a 0600 file or an environment variable, never from the TOML;
errors name the file and its mode (or the variable), and nothing shown carries a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbot.errors import ConfigError
from arbot.notify.targets import Scrubber, load_target, mask
from arbot.settings import NotifyTarget, parse_settings
from tests.notify.conftest import assert_no_secret

TELEGRAM = "tgram://123456789:AAHs3cr3tBotToken/987123456"
NTFY = "ntfy://127.0.0.1:8080/arbot-s3cr3t-topic"


def write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_urls_file_others_may_read_is_refused_naming_file_and_mode(
    tmp_path: Path, mode: int
) -> None:
    path = write(tmp_path / "notify.urls", TELEGRAM + "\n", mode)
    with pytest.raises(ConfigError) as info:
        load_target(NotifyTarget(name="phone", urls_file=path))
    text = str(info.value)
    assert text.startswith(f"{path}: mode {mode:04o} ")
    assert "chmod 600" in text and "'phone'" in text
    assert_no_secret(text)


def test_urls_from_a_file_skip_comments_and_blanks_and_from_the_environment(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "n.urls", f"# my phone\n\n  {TELEGRAM}  \n{NTFY}\n", 0o600)
    target = load_target(NotifyTarget(name="a", urls_file=path))
    assert target.urls == (TELEGRAM, NTFY)
    assert target.shown == ("tgram://***", "ntfy://127.0.0.1/***")
    env = {"ARBOT_NOTIFY": f"{NTFY}, json://127.0.0.1:9/s3cr3t-env-token"}
    target = load_target(NotifyTarget(name="b", urls_env="ARBOT_NOTIFY"), environ=env)
    assert target.shown == ("ntfy://127.0.0.1/***", "json://127.0.0.1/***")
    assert target.source == "env ARBOT_NOTIFY" and target.as_json is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "$ARBOT_NOTIFY: not set in the environment (notify target 'b')"),
        ({"ARBOT_NOTIFY": " "}, "$ARBOT_NOTIFY: no Apprise URL in it (notify target 'b')"),
        (
            {"ARBOT_NOTIFY": "nope://s3cr3t-env-token@x"},
            "$ARBOT_NOTIFY: nope://***: not a URL Apprise can send to",
        ),
    ],
)
def test_a_variable_without_usable_urls_is_named_without_its_value(
    env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_target(NotifyTarget(name="b", urls_env="ARBOT_NOTIFY"), environ=env)
    assert str(info.value).startswith(expected)
    assert_no_secret(str(info.value))


def test_a_bad_url_in_a_file_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "n.urls", f"{NTFY}\nhttps//s3cr3t-hook-token\n", 0o600)
    with pytest.raises(ConfigError) as info:
        load_target(NotifyTarget(name="a", urls_file=path))
    assert str(info.value).startswith(f"{path}:2: ***: not a URL Apprise can send to")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (TELEGRAM, "tgram://***"),
        (NTFY, "ntfy://127.0.0.1/***"),
        ("ntfy://arbot-s3cr3t-topic", "ntfy://***"),
        ("ntfys://ntfy.sh/arbot-s3cr3t-topic", "ntfys://ntfy.sh/***"),
        (
            "mailtos://me:s3cr3t-hook-token@smtp.example.com?to=x@y.z",
            "mailtos://smtp.example.com/***",
        ),
        ("discord://4174216298/s3cr3t-hook-token", "discord://***"),
        ("json://[::1]:8080/s3cr3t-hook-token", "json://::1/***"),
        ("json://localhost/s3cr3t-hook-token", "json://localhost/***"),
    ],
)
def test_a_url_is_shown_as_scheme_and_host_only(url: str, shown: str) -> None:
    assert mask(url) == shown


def test_the_scrubber_hides_every_part_of_the_urls_a_service_may_echo() -> None:
    scrub = Scrubber([TELEGRAM, "json://u:s3cr3t-env-token@127.0.0.1:9/s3cr3t-hook-token?x=1"])
    text = scrub(
        "Failed to send Telegram:987123456 to https://api/bot123456789:AAHs3cr3tBotToken/send; "
        "JSON to 127.0.0.1 as u:s3cr3t-env-token at /s3cr3t-hook-token?x=1"
    )
    assert_no_secret(text)
    assert "127.0.0.1" in text and "Telegram:***" in text


def test_a_target_takes_one_source_and_names_are_unique() -> None:
    for entry in ({}, {"urls_env": "A", "urls_file": "/x"}):
        with pytest.raises(ConfigError, match=r"notify\[0\]: give exactly one of urls_file"):
            parse_settings({"notify": [entry]}, "t.toml")
    with pytest.raises(ConfigError, match="notify: notify target name '1' is used twice"):
        parse_settings({"notify": [{"urls_env": "A"}, {"urls_env": "B", "name": "1"}]}, "t")
    with pytest.raises(ConfigError, match=r"notify\[0\]\.urls: unknown key"):
        parse_settings({"notify": [{"urls_env": "A", "urls": [NTFY]}]}, "t.toml")
    settings = parse_settings({"notify": [{"urls_env": "A"}, {"urls_env": "B"}]}, "t")
    assert [t.name for t in settings.notify] == ["1", "2"]
