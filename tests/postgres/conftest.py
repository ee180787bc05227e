"""`backend`: each test of this folder that takes it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres.backends import Backend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        data_dir = request.getfixturevalue("data_dir")
        return Backend("sqlite", data_dir, None)
    return Backend("postgresql", tmp_path, request.getfixturevalue("pg_settings"))
