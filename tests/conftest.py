"""Shared fixtures: a fresh data dir with the four databases, a fresh metrics registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from arbot.metrics import Metrics
from arbot.storage.schema import init_all

# Machines are shared and noisy: an example's run time says nothing about correctness.
hypothesis_settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("shared-machine")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    init_all(d)
    return d


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()
