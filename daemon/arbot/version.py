"""The installed distribution's version (pyproject.toml), for --version, logs and metrics."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("arbot")
except PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"
