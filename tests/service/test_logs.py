"""Log hygiene the service relies on: repeated identical errors are rate-limited with a
count, and credentials never reach a log line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import structlog

from arbot import logs


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Configure JSON logs in the test body (configure binds the sys.stderr of that moment,
    which capsys replaces only for the call phase); restore structlog's defaults after."""
    yield
    structlog.reset_defaults()


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line]


def test_repeated_errors_are_dropped_then_counted() -> None:
    """Within the window a repeat of (event, exchange, error) is dropped; the next one
    after the window says how many were suppressed. Info lines are never limited."""
    limiter = logs.RateLimiter(window=0.05)
    event = {"event": "feed_error", "exchange": "okx", "error": "timeout"}
    assert limiter(None, "warning", dict(event)) == event
    for _ in range(3):
        with pytest.raises(structlog.DropEvent):
            limiter(None, "warning", dict(event))
    other = {**event, "exchange": "kraken"}
    assert limiter(None, "warning", dict(other)) == other
    assert limiter(None, "info", {"event": "feed_up"}) == {"event": "feed_up"}
    time.sleep(0.06)
    assert limiter(None, "warning", dict(event)) == {**event, "suppressed": 3}


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
