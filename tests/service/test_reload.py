"""SIGHUP reloads the configuration of the running `arbot run` process and never ends it:
thresholds and the log level apply live, a new exchange starts feeding, keys that cannot
change live are named as needing a restart, a bad file is refused with one error line, and
nothing accepted is lost across reloads."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

from arbot.localmarket import LocalExchange
from tests.integration.process import DaemonProcess, eventually
from tests.reliability.config import daemon_doc, free_port, write_config
from tests.reliability.daemon import arbot_command

PORT = free_port()  # metrics are off; the key must still be a valid address, and one value


def exchange(name: str, fake: LocalExchange) -> dict[str, Any]:
    return {
        "id": "binance",
        "name": name,
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "url_override": fake.url,
        "ccxt_config": {"enableRateLimit": False},
    }


def doc(
    data_dir: Path,
    fake: LocalExchange,
    *more: dict[str, Any],
    taker_fee: float = 0.001,
    **sections: Any,
) -> dict[str, Any]:
    exchanges = [{**exchange("binance", fake), "taker_fee": taker_fee}, *more]
    return daemon_doc(data_dir, exchanges, PORT, metrics={"enabled": False}, **sections)


async def test_sighup_reloads_and_never_kills(tmp_path: Path) -> None:
    config = tmp_path / "arbot.toml"
    async with (
        LocalExchange("binance", rate=50) as fake,
        LocalExchange("binance", rate=50) as second,
    ):
        write_config(config, doc(tmp_path / "data", fake))
        daemon = await DaemonProcess.start(config, 0, {})
        reader = asyncio.create_task(daemon.read_logs())
        try:
            await eventually(lambda: daemon.find("feed_up"), daemon.tail)

            changed = doc(
                tmp_path / "data",
                fake,
                taker_fee=0.002,
                detector={"min_profit_percent": 0.5},
                logging={"level": "debug"},
            )
            write_config(config, changed)
            daemon.proc.send_signal(signal.SIGHUP)
            (reloaded,) = await eventually(lambda: daemon.find("config_reloaded"), daemon.tail)
            assert reloaded["applied"] == [
                "detector.min_profit_percent",
                "exchanges.binance.taker_fee",
                "logging.level",
            ]
            assert reloaded["restart_required"] == []
            # A fee only re-prices: the feed goes on, on its one connection, with no gap.
            await asyncio.sleep(1.0)
            assert len(daemon.find("markets_loaded")) == 1 and fake.ws_accepted == 1

            # An exchange added: its feed starts, the running one never pauses.
            grown = doc(
                tmp_path / "data",
                fake,
                exchange("binance2", second),
                detector={"min_profit_percent": 0.5, "quote_groups": [["USDT", "USDC"]]},
                logging={"level": "debug"},
            )
            write_config(config, grown)
            daemon.proc.send_signal(signal.SIGHUP)
            await eventually(lambda: len(daemon.find("config_reloaded")) == 2, daemon.tail)
            again = daemon.find("config_reloaded")[1]
            assert again["restart_required"] == ["detector.quote_groups"]
            assert "exchanges.binance2.name" in again["applied"]
            await eventually(
                lambda: [e for e in daemon.find("feed_up") if e.get("exchange") == "binance2"],
                daemon.tail,
            )

            bad = doc(tmp_path / "data", fake, detector={"min_profit_percent": "x"})
            write_config(config, bad)
            daemon.proc.send_signal(signal.SIGHUP)
            (failed,) = await eventually(lambda: daemon.find("reload_failed"), daemon.tail)
            assert "detector.min_profit_percent" in failed["error"]
            assert failed["level"] == "error"

            # A burst of SIGHUPs under load: reloads run one at a time (the repeated error
            # line is rate-limited), the process goes on.
            for _ in range(5):
                daemon.proc.send_signal(signal.SIGHUP)
                await asyncio.sleep(0.01)
            await eventually(lambda: len(daemon.find("reload_requested")) >= 3, daemon.tail)
            await asyncio.sleep(0.5)
            assert daemon.proc.returncode is None

            daemon.terminate()
            assert await daemon.wait() == 0
        finally:
            await daemon.reap()
            reader.cancel()
    final = daemon.events[-1]
    assert final["event"] == "daemon_stopped", daemon.tail()
    assert final["ticks_accepted"] == final["ticks_committed"] > 0
    assert len(daemon.find("config_reloaded")) == 2


def test_hooks_apply_keys_and_the_rest_need_a_restart() -> None:
    """A hook's applied keys are not reported as needing a restart; a failing hook is
    logged and the reload still completes; an added exchange shows as its keys."""
    from structlog.testing import capture_logs

    from arbot.reload import Reloader, changed_keys
    from arbot.settings import Settings, parse_settings

    old = parse_settings({"exchanges": [{"id": "binance", "symbols": ["BTC/USDT"]}]}, "a")
    new = parse_settings(
        {
            "exchanges": [
                {"id": "binance", "symbols": ["BTC/USDT"], "taker_fee": 0.002},
                {"id": "okx", "symbols": ["BTC/USDT"]},
            ],
            "detector": {"min_profit_percent": 0.3},
        },
        "b",
    )
    keys = changed_keys(old, new)
    assert "exchanges.binance.taker_fee" in keys and "exchanges.okx.id" in keys

    def fees(settings: Settings) -> list[str]:
        return ["exchanges.binance.taker_fee"]

    def broken(settings: Settings) -> list[str]:
        raise RuntimeError("bug")

    reloader = Reloader(lambda: new, old)
    reloader.hooks += [fees, broken]
    with capture_logs() as logged:
        restart = reloader.apply(new)
    assert "exchanges.binance.taker_fee" not in restart
    assert "detector.min_profit_percent" in restart
    assert [e["event"] for e in logged] == ["reload_hook_failed", "config_reloaded"]
    assert reloader.current is new


async def test_arbot_reload_reports_the_daemons_verdict(tmp_path: Path) -> None:
    """What systemctl reload runs (systemd/arbot.service ExecReload=): SIGHUP, then the
    verdict of that reload: exit 0 when applied, 3 with the error when refused, and one
    line (exit 4) when no daemon holds the data dir."""
    config = tmp_path / "arbot.toml"
    data = tmp_path / "data"
    async with LocalExchange("binance", rate=20) as fake:
        write_config(config, doc(data, fake))
        daemon = await DaemonProcess.start(config, 0, {})
        reader = asyncio.create_task(daemon.read_logs())
        try:
            await eventually(lambda: daemon.find("feed_up"), daemon.tail)
            write_config(config, doc(data, fake, detector={"min_profit_percent": 0.4}))
            ok = await arbot_reload(config)
            assert ok.returncode == 0, ok.stderr
            assert ok.stdout.startswith(f"arbot: reload applied (pid {daemon.proc.pid})")
            write_config(config, doc(data, fake, detector={"min_profit_percent": "x"}))
            # Given the file, the tool itself finds the error (and sends nothing) ...
            early = await arbot_reload(config)
            assert early.returncode == 3 and "detector.min_profit_percent" in early.stderr
            # ... given only the data dir, the daemon's verdict says it.
            bad = await arbot_reload(None, "--data-dir", str(data), "--pid", str(daemon.proc.pid))
            assert bad.returncode == 3, bad.stderr
            [line] = bad.stderr.strip().splitlines()
            assert "reload refused" in line and "detector.min_profit_percent" in line
            daemon.terminate()
            assert await daemon.wait() == 0
        finally:
            await daemon.reap()
            reader.cancel()
    gone = await arbot_reload(None, "--data-dir", str(data))
    assert gone.returncode == 4 and "no daemon holds" in gone.stderr, gone.stderr


async def arbot_reload(config: Path | None, *extra: str) -> subprocess.CompletedProcess[str]:
    given = ["--config", str(config)] if config else []
    argv = [*arbot_command("reload", *given, "--timeout", "30"), *extra]
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False
    )
