"""The installed distribution's version (pyproject.toml), for --version, logs and metrics."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version


@functools.cache
def version() -> str:
    """Looked up on first use: the lookup scans every installed distribution (~0.2 s),
    which no import of arbot should pay."""
    try:
        return distribution_version("arbot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
