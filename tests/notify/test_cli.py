"""`arbot notify list` shows the targets with their URLs masked; `arbot notify test` sends
one message to each (or one) target and says per target delivered or failed, and why,
without the token."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from arbot.cli import main
from tests.notify.conftest import assert_no_secret
from tests.notify.servers import Receiver

TELEGRAM = "tgram://123456789:AAHs3cr3tBotToken/987123456"


def config(tmp_path: Path, receiver: Receiver, dead_port: int) -> list[str]:
    urls = tmp_path / "notify.urls"
    urls.write_text(f"{TELEGRAM}\n{receiver.url('ntfy', 'arbot-s3cr3t-topic')}\n")
    urls.chmod(0o600)
    dead = tmp_path / "dead.urls"
    dead.write_text(f"json://127.0.0.1:{dead_port}/s3cr3t-hook-token\n")
    dead.chmod(0o600)
    path = tmp_path / "arbot.toml"
    path.write_text(
        f'[[notify]]\nname = "phone"\nurls_file = "{urls}"\nmin_profit_percent = 0.3\n'
        f'symbols = ["BTC/USDT"]\n\n'
        f'[[notify]]\nurls_env = "ARBOT_TEST_HOOK"\nevents = ["opportunity"]\n\n'
        f'[[notify]]\nname = "dead"\nurls_file = "{dead}"\n'
    )
    (tmp_path / "data").mkdir()
    return ["--config", str(path), "--data-dir", str(tmp_path / "data")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def args(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("ARBOT_TEST_HOOK", receiver.url("json", "s3cr3t-env-token"))
    return config(tmp_path, receiver, free_port())


async def test_list_masks_every_url(args: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["notify", "list", *args]) == 0
    table = capfd.readouterr().out
    assert_no_secret(table)
    assert "tgram://***, ntfy://127.0.0.1/***" in table and "min 0.3 %, symbols BTC/USDT" in table
    assert main(["notify", "list", *args, "--json"]) == 0
    rows = json.loads(capfd.readouterr().out)
    assert [(r["name"], r["urls"]) for r in rows] == [
        ("phone", ["tgram://***", "ntfy://127.0.0.1/***"]),
        ("2", ["json://127.0.0.1/***"]),
        ("dead", ["json://127.0.0.1/***"]),
    ]
    assert rows[1]["source"] == "env ARBOT_TEST_HOOK" and rows[1]["events"] == ["opportunity"]
    assert_no_secret(json.dumps(rows))


async def test_test_says_per_target_delivered_or_failed_and_why(
    args: list[str], receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    """Run in a thread: the receiver is served by this test's event loop."""
    code = await asyncio.to_thread(main, ["notify", "test", *args, "--target", "2"])
    out, err = capfd.readouterr()
    assert (code, out, err) == (0, "2: delivered\n", "")
    [got] = receiver.got
    assert got.data["event"] == "test" and "target '2' works" in got.data["text"]

    code = await asyncio.to_thread(main, ["notify", "test", *args, "--target", "dead", "--json"])
    out, err = capfd.readouterr()
    assert code == 3
    [row] = json.loads(out)
    assert row["result"] == "failed"
    assert row["error"].startswith("json://127.0.0.1/***: A Connection error occurred")
    assert err == (
        "arbot: error: 1 of 1 notify targets failed (dead); check their URLs and services "
        "(arbot notify list)\n"
    )
    assert_no_secret(out + err)


def test_an_unknown_target_and_no_targets_are_usage_errors(
    args: list[str], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "test", *args, "--target", "nope"]) == 2
    err = capfd.readouterr().err
    assert err == (
        "arbot: error: --target 'nope': no such notify target (targets: phone, 2, dead)\n"
    )
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["notify", "test", "--config", str(empty), "--data-dir", str(tmp_path)]) == 2
    assert "no [[notify]] targets in" in capfd.readouterr().err
    assert main(["notify", "list", "--config", str(empty), "--data-dir", str(tmp_path)]) == 0
    assert capfd.readouterr().out == f"no [[notify]] targets in {empty}\n"
