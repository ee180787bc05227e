"""Helpers shared across test packages: read a database file, poll until a condition holds,
storage settings that fail fast, read a metric."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arbot.metrics import Metrics
from arbot.settings import StorageSettings


def read(data_dir: Path, sql: str, db: str = "arbot") -> list[tuple[object, ...]]:
    """Rows of `sql` on its own connection to `db`.db (what another reader would see)."""
    conn = sqlite3.connect(data_dir / f"{db}.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - polls counters and the database, no event
            await asyncio.sleep(0.005)


def fast_storage(data_dir: Path, **overrides: Any) -> StorageSettings:
    """Storage settings whose lock waits and write retries give up within milliseconds."""
    return StorageSettings(
        data_dir=data_dir, busy_timeout_ms=10, retry_max_seconds=0.05, **overrides
    )


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """A metric sample's value; 0 when it has no sample (yet)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0
