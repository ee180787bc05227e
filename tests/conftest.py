"""Shared fixtures: a fresh data dir with the four databases, a fresh metrics registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbot.metrics import Metrics
from arbot.storage.schema import init_all


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    init_all(d)
    return d


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()
