"""Errors the daemon reports to the operator, and the process exit codes they map to."""

from __future__ import annotations

# Exit codes (documented in README): 0 clean stop, 1 unclean stop, 2 usage, 3 config,
# 4 database, 5 exchange setup.
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_DATABASE = 4
EXIT_EXCHANGE = 5
EXIT_UNCLEAN = 1  # a crash, a forced stop, or a drain longer than service.grace_timeout


class ArbotError(Exception):
    """Base: a problem the operator must fix; the message names the thing that is wrong."""

    exit_code = 1


class ConfigError(ArbotError):
    """The configuration is invalid; nothing starts. Fix the named file and key."""

    exit_code = EXIT_CONFIG


class InputError(ArbotError):
    """A file given to replay or backtest is unreadable or malformed (file and line named)."""

    exit_code = EXIT_USAGE


class DatabaseError(ArbotError):
    """A database file is unusable (foreign, corrupt, newer schema, locked at start)."""

    exit_code = EXIT_DATABASE


class ExchangeSetupError(ArbotError):
    """An exchange or symbol named in the config does not exist; fix the config."""

    exit_code = EXIT_EXCHANGE


class TransientFeedError(Exception):
    """A feed problem that goes away by itself: retry after `retry_after` or backoff."""

    def __init__(self, message: str, retry_after: float | None = None, kind: str = "network"):
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind


class FatalFeedError(Exception):
    """A feed problem retrying is unlikely to fix (bad symbol, auth): the feed says why and
    retries at the backoff cap, so the exchange is not silenced for good."""
