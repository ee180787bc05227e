"""The daemon against local fake exchanges whose okx quotes jump +0.6 % for 1.5 s every 4 s:
each opportunity reaches a JSON webhook, ntfy and e-mail once per episode with the fields
`arbot query signals --json` has; a filter keeps another target quiet; and targets that are
down, slow or answering 500 delay nothing: detection goes on and what waited arrives once
the receiver answers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from arbot.app import run_daemon
from arbot.cli import main
from arbot.localmarket import LocalExchange
from arbot.localmarket.quotes import RandomWalk
from arbot.metrics import Metrics
from arbot.settings import Settings, parse_settings
from tests.helpers import read
from tests.notify.conftest import assert_no_secret
from tests.notify.servers import Receiver, SmtpServer

SYMBOL = "BTC/USDT"
# The fields of a row of `arbot query signals --json`.
QUERY_SIGNALS = (
    "timestamp", "symbol", "buy_exchange", "sell_exchange", "buy_price", "sell_price",
    "buy_size", "sell_size", "profit", "profit_percent", "confidence", "trend_direction",
    "executed",
)  # fmt: skip
EVERY, LENGTH = 4.0, 1.5


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, LocalExchange]]:
    async with AsyncExitStack() as stack:
        out = {}
        for name, kind, every in (("binance", "binance", 0.0), ("okx", "okx", EVERY)):
            walk = RandomWalk(
                symbols=(SYMBOL,), rate=20, dislocation_every=every, dislocation_size=0.006,
                dislocation_length=LENGTH,
            )  # fmt: skip
            out[name] = await stack.enter_async_context(LocalExchange(kind, source=walk))
        yield out


def settings(data_dir: Path, fakes: dict[str, LocalExchange], notify: list[Any]) -> Settings:
    exchanges = [
        {"id": fake.kind, "name": name, "symbols": [SYMBOL], "url_override": fake.url,
         "watch_timeout": 5.0, "ccxt_config": {"enableRateLimit": False}}
        for name, fake in fakes.items()
    ]  # fmt: skip
    return parse_settings(
        {
            "storage": {"data_dir": str(data_dir), "linger_ms": 50},
            "exchanges": exchanges,
            "detector": {"cooldown": 0.5},
            "metrics": {"enabled": False},
            "retention": {"enabled": False},
            "backup": {"enabled": False},
            "notify": notify,
        },
        "test",
    )


def urls_file(tmp_path: Path, name: str, *urls: str) -> str:
    path = tmp_path / f"{name}.urls"
    path.write_text("\n".join(urls) + "\n")
    path.chmod(0o600)
    return str(path)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_until(
    s: Settings, done: Callable[[], bool], within: float = 60.0
) -> tuple[int, list[MutableMapping[str, Any]]]:
    """Run the daemon until `done()` (polled), then stop it; (exit code, its log)."""
    stop = asyncio.Event()
    with capture_logs() as logs:
        daemon = asyncio.create_task(run_daemon(s, stop.wait(), Metrics()))
        async with asyncio.timeout(within):
            while not done():  # noqa: ASYNC110 - polls what the receivers got
                await asyncio.sleep(0.1)
        stop.set()
        code = await daemon
    return code, logs


def episodes(data_dir: Path) -> list[tuple[Any, ...]]:
    """(key, opened_at) of the episodes stored so far."""
    if not (data_dir / "arbot.db").exists():
        return []
    return read(data_dir, "SELECT episode_key, opened_at FROM signal_episodes ORDER BY 2")


async def test_each_episode_is_told_once_with_the_fields_of_query_signals(
    tmp_path: Path,
    fakes: dict[str, LocalExchange],
    receiver: Receiver,
    smtp: SmtpServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "data"
    mail = f"mailto://127.0.0.1:{smtp.port}?from=arbot@example.com&to=trader@example.com"
    notify = [
        {"name": "hook", "events": ["opportunity", "episode_closed"],
         "urls_file": urls_file(tmp_path, "hook", receiver.url("json", "s3cr3t-hook-token"))},
        {"name": "phone", "events": ["opportunity"],
         "urls_file": urls_file(tmp_path, "phone", receiver.url("ntfy", "arbot-s3cr3t-topic"))},
        {"name": "mail", "events": ["opportunity"], "rate_limit": 100,
         "urls_file": urls_file(tmp_path, "mail", mail)},
        {"name": "picky", "min_profit_percent": 5.0,
         "urls_file": urls_file(tmp_path, "picky", receiver.url("json", "picky"))},
    ]  # fmt: skip
    s = settings(data_dir, fakes, notify)

    def hook(event: str) -> list[dict[str, Any]]:
        return [
            g.data for g in receiver.got if g.path.endswith("token") and g.data["event"] == event
        ]

    code, logs = await run_until(s, lambda: len(hook("episode_closed")) >= 2)
    assert code == 0
    await asyncio.sleep(0.5)  # the ntfy and e-mail deliveries of the last opening
    closed = dict(episodes(data_dir))
    opened = hook("opportunity")
    keys = [m["episode_key"] for m in opened]
    assert len(keys) == len(set(keys)) >= 2, "one opportunity message per episode"
    assert {m["episode_key"] for m in hook("episode_closed")} <= set(keys)
    assert not [g for g in receiver.got if g.path == "/picky"]  # 0.4 % < 5 %

    assert main(["query", "signals", "--data-dir", str(data_dir), "--json"]) == 0
    rows = {r["timestamp"]: r for r in json.loads(capfd.readouterr().out)["signals"]}
    for message in opened:
        row = rows[message["timestamp"]]  # the signal stored for it
        assert {k: message[k] for k in QUERY_SIGNALS} == {k: row[k] for k in QUERY_SIGNALS}
        assert message["text"].startswith(f"{SYMBOL}: buy binance at ")
        if message["episode_key"] in closed:  # the episode's first signal
            assert message["timestamp"] == closed[message["episode_key"]]

    # Apprise spaces requests to one ntfy/e-mail URL 5.5 s apart: wait for the last ones.
    async with asyncio.timeout(30):
        while (  # noqa: ASYNC110
            len([g for g in receiver.got if g.path == "/"]) < len(opened)
            or len(smtp.mails) < len(opened)
        ):
            await asyncio.sleep(0.1)
    ntfy = [g.body for g in receiver.got if g.path == "/"]  # ntfy posts the topic in the body
    assert [b["title"] for b in ntfy[: len(opened)]] == [m["title"] for m in opened]
    assert ntfy[0]["message"] == opened[0]["text"]
    assert [m["Subject"] for m in smtp.mails][: len(opened)] == [m["title"] for m in opened]
    assert opened[0]["text"] in smtp.mails[0].get_content().replace("\r\n", "\n")
    assert_no_secret(str(logs))


async def test_targets_down_slow_or_failing_delay_nothing(
    tmp_path: Path, fakes: dict[str, LocalExchange]
) -> None:
    """A closed port, a receiver that answers after 30 s and one answering 500: the
    daemon keeps detecting (episodes keep closing), and the 500 one gets the messages that
    waited once it answers 200."""
    data_dir = tmp_path / "data"
    slow, failing = await Receiver(mode="slow").start(), await Receiver(mode="fail").start()
    dead = f"json://127.0.0.1:{closed_port()}/s3cr3t-hook-token"
    notify = [
        {"name": "dead", "urls_file": urls_file(tmp_path, "dead", dead)},
        {"name": "slow", "urls_file": urls_file(tmp_path, "slow", slow.url("json", "x"))},
        {"name": "500", "urls_file": urls_file(tmp_path, "500", failing.url("json", "y"))},
    ]
    try:

        def detecting() -> bool:
            if len(episodes(data_dir)) >= 2:
                failing.mode = "ok"
            return failing.mode == "ok" and len(failing.got) >= 3

        code, logs = await run_until(settings(data_dir, fakes, notify), detecting)
    finally:
        await slow.stop()
        await failing.stop()
    assert code == 0
    assert failing.failed >= 1 and slow.got == []
    events = [g.data["event"] for g in failing.got]
    assert events[:3] == ["opportunity", "episode_closed", "opportunity"]
    failing_lines = [e for e in logs if e["event"] == "notify_target_failing"]
    assert {e["target"] for e in failing_lines} == {"dead", "slow", "500"}
    assert_no_secret(str(logs))
