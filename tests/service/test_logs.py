"""Log hygiene the service relies on: repeated identical errors are rate-limited with a
count, and credentials never reach a log line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from arbot import logs


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Configure JSON logs in the test body (configure binds the sys.stderr of that moment,
    which capsys replaces only for the call phase); restore structlog's defaults and the
    standard library's root logger after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level
    logging.captureWarnings(False)


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line]


def test_repeated_errors_are_dropped_then_counted() -> None:
    """Within the window a repeat of (event, exchange, error) is dropped; the next one
    after the window says how many were suppressed. Info lines are never limited."""
    now = [100.0]
    limiter = logs.RateLimiter(window=10.0, clock=lambda: now[0])
    event = {"event": "feed_error", "exchange": "okx", "error": "timeout"}
    assert limiter(None, "warning", dict(event)) == event
    for _ in range(3):
        with pytest.raises(structlog.DropEvent):
            limiter(None, "warning", dict(event))
    other = {**event, "exchange": "kraken"}
    assert limiter(None, "warning", dict(other)) == other
    assert limiter(None, "info", {"event": "feed_up"}) == {"event": "feed_up"}
    now[0] += 9.9
    with pytest.raises(structlog.DropEvent):
        limiter(None, "warning", dict(event))
    now[0] += 0.2
    assert limiter(None, "warning", dict(event)) == {**event, "suppressed": 4}


def test_configured_logger_limits_a_burst(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A burst of one identical error through the configured logger prints one line."""
    logs.configure("json", "info")
    log = logs.get_logger(exchange="binance")
    for _ in range(50):
        log.error("feed_error", error="ExchangeNotAvailable: 503")
    log.error("feed_error", error="RequestTimeout")
    printed = lines(capsys.readouterr().err)
    assert [(e["event"], e["error"]) for e in printed] == [
        ("feed_error", "ExchangeNotAvailable: 503"),
        ("feed_error", "RequestTimeout"),
    ]


def test_credentials_are_redacted(json_logs: None, capsys: pytest.CaptureFixture[str]) -> None:
    """API keys, secrets and passwords are replaced, also inside nested ccxt options."""
    logs.configure("json", "info")
    log = logs.get_logger(exchange="kraken")
    log.info(
        "exchange_configured",
        ccxt_options={"apiKey": "AK-123", "secret": "S-456", "options": {"password": "P-789"}},
        api_key="AK-123",
    )
    err = capsys.readouterr().err
    for secret in ("AK-123", "S-456", "P-789"):
        assert secret not in err
    (event,) = lines(err)
    assert event["ccxt_options"] == {
        "apiKey": "***",
        "secret": "***",
        "options": {"password": "***"},
    }


JOURNAL_CHILD = """
import logging, warnings
from arbot import logs
logs.configure("console", "info")
log = logs.get_logger(exchange="okx")
log.debug("hidden")
log.info("feed_up")
log.warning("feed_down", reason="ws timeout")
log.error("daemon_failed", error="boom")
logging.getLogger("aiohttp.server").error("Error handling request")
warnings.warn("deprecated thing")
logs.set_level("warning")
log.info("not_shown")
log.warning("still_shown")
"""


def run_under_journal(tmp_path: Path, args: list[str]) -> list[str]:
    """Run a child whose stderr is a file named by JOURNAL_STREAM (as systemd sets it for a
    journal stream) and return its stderr lines."""
    err_path = tmp_path / "stderr"
    with err_path.open("wb") as err:
        st = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run(
            args, check=False, stderr=err, stdout=subprocess.DEVNULL, env=env, timeout=60
        )
    return err_path.read_text().splitlines()


def test_journal_lines_carry_syslog_priorities(tmp_path: Path) -> None:
    """Under journald every line is JSON with its syslog priority prefix, library loggers and
    warnings included, whatever logging.format says; set_level applies to loggers bound
    before it."""
    printed = run_under_journal(tmp_path, [sys.executable, "-c", JOURNAL_CHILD])
    prefixes = [line[: line.index("{")] for line in printed]
    events = [json.loads(line[line.index("{") :]) for line in printed]
    assert [e["event"] for e in events] == [
        "feed_up",
        "feed_down",
        "daemon_failed",
        "Error handling request",
        events[4]["event"],
        "still_shown",
    ]
    assert "deprecated thing" in events[4]["event"]
    assert prefixes == ["<6>", "<4>", "<3>", "<3>", "<4>", "<4>"]
    assert events[3]["logger"] == "aiohttp.server"


def test_start_up_error_under_journal_is_json(tmp_path: Path) -> None:
    """A config error before logging is set up is still one JSON line at error priority."""
    arbot = Path(sys.executable).with_name("arbot")
    printed = run_under_journal(tmp_path, [str(arbot), "run", "--config", str(tmp_path / "nope")])
    assert len(printed) == 1 and printed[0].startswith("<3>{")
    event = json.loads(printed[0][3:])
    assert event["exit_code"] == 3 and "cannot read config file" in event["error"]


def test_redirected_stderr_is_not_the_journal(tmp_path: Path) -> None:
    """JOURNAL_STREAM naming another file (stderr redirected by hand) is ignored."""
    with (tmp_path / "a").open("w") as a, (tmp_path / "b").open("w") as b:
        st = os.fstat(a.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert logs.under_journald(env, a)
        assert not logs.under_journald(env, b)
        assert not logs.under_journald({"JOURNAL_STREAM": "garbage"}, a)
