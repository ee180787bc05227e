"""job_runs in config.db: when each daily job last completed (UNIX seconds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbot.storage.connection import Pragmas
from arbot.storage.schema import open_database


def completed(data_dir: Path, pragmas: Pragmas | None = None) -> dict[str, float]:
    conn = open_database(data_dir, "config", pragmas)
    try:
        rows = conn.execute("SELECT name, completed_at FROM job_runs").fetchall()
    finally:
        conn.close()
    return {name: float(at) for name, at in rows}


def record_completed(data_dir: Path, name: str, at: float, pragmas: Pragmas | None = None) -> None:
    conn = open_database(data_dir, "config", pragmas)
    try:
        conn.execute(
            "INSERT INTO job_runs (name, completed_at) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET completed_at = excluded.completed_at",
            (name, at),
        )
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class SqliteJobRuns:
    """config.db's job_runs; one daemon per data dir, so every run is its own."""

    data_dir: Path
    pragmas: Pragmas

    def completed(self) -> dict[str, float]:
        return completed(self.data_dir, self.pragmas)

    def run_once(
        self,
        name: str,
        scheduled: float,
        now: float,
        work: Callable[[], dict[str, Any]],
        pause: Callable[[float], None],
    ) -> dict[str, Any]:
        facts = work()
        record_completed(self.data_dir, name, now, self.pragmas)
        return facts
