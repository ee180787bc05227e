"""job_runs in config.db: when each daily job last completed (UNIX seconds)."""

from __future__ import annotations

from pathlib import Path

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
