"""`arbot db maintain`: planner statistics, integrity checks, optional REINDEX and VACUUM."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from arbot.errors import DatabaseError
from arbot.storage.connection import DATABASES, Pragmas, connect, db_path
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.sqlite.backup import backup_database

# Above this size the full integrity_check (which also checks every index entry) takes too
# long for a routine run; quick_check still verifies page structure and record formats.
FULL_CHECK_MAX_BYTES = 1 << 30
# VACUUM rewrites the whole file: worth it only when this share of its pages is free.
VACUUM_FREELIST_FRACTION = 0.2
ANALYSIS_LIMIT_ROWS = 1000
_PROGRESS_EVERY_OPS = 100_000


@contextlib.contextmanager
def _progress(conn: sqlite3.Connection, label: str, enabled: bool) -> Iterator[None]:
    """A live bar (steps of 100k VM instructions) while one long statement runs."""
    bar = tqdm(desc=label, unit=" steps", disable=not enabled, leave=False, file=sys.stderr)

    def tick() -> int:
        bar.update()
        return 0  # 0 = keep going

    conn.set_progress_handler(tick, _PROGRESS_EVERY_OPS)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 0)
        bar.close()


class _Steps:
    """Runs one database's steps, each timed, with a live bar, and records the outcomes."""

    def __init__(self, conn: sqlite3.Connection, db: str, progress: bool) -> None:
        self.conn = conn
        self.db = db
        self.progress = progress
        self.results: list[dict[str, Any]] = []

    def note(self, step: str, result: str, seconds: float = 0.0) -> None:
        self.results.append(
            {"database": self.db, "step": step, "result": result, "seconds": seconds}
        )

    def run(self, step: str, work: Callable[[], str]) -> str:
        started = time.monotonic()
        with _progress(self.conn, f"{self.db}: {step}", self.progress):
            result = work()
        self.note(step, result, time.monotonic() - started)
        return result

    def sql(self, step: str, statement: str, result: str) -> str:
        def work() -> str:
            self.conn.execute(statement)
            return result

        return self.run(step, work)


def _check(conn: sqlite3.Connection, size: int) -> str:
    pragma = "integrity_check" if size <= FULL_CHECK_MAX_BYTES else "quick_check"
    problems = [r[0] for r in conn.execute(f"PRAGMA {pragma}(20)")]
    return f"{pragma}: ok" if problems == ["ok"] else f"{pragma}: " + "; ".join(problems)


def maintain_database(
    data_dir: Path,
    db: str,
    backup_dir: Path,
    now: float,
    *,
    reindex: bool = False,
    vacuum: bool = False,
    vacuum_threshold: float = VACUUM_FREELIST_FRACTION,
    pragmas: Pragmas | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    path = db_path(data_dir, db)
    conn = connect(path, pragmas)
    steps = _Steps(conn, db, progress)
    try:
        # A row sample per index keeps ANALYZE cheap on big tables; plans only need shapes.
        conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT_ROWS}")
        steps.sql("analyze", "ANALYZE", "statistics updated")
        steps.sql("optimize", "PRAGMA optimize", "done")
        steps.run("check", lambda: _check(conn, path.stat().st_size))
        if reindex:
            steps.sql("reindex", "REINDEX", "indexes rebuilt")
        if vacuum:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            fraction = free / pages if pages else 0.0
            if fraction <= vacuum_threshold:
                steps.note("vacuum", f"skipped: freelist {fraction:.1%} <= {vacuum_threshold:.0%}")
            else:
                # Never rewrite the whole file without a fresh verified copy to go back to.
                kept = backup_database(data_dir, db, backup_dir, now)
                steps.note("backup", str(kept.path), kept.seconds)
                steps.sql("vacuum", "VACUUM", f"freelist was {fraction:.1%}")
    finally:
        conn.close()
    return steps.results


def maintain(
    data_dir: Path,
    backup_dir: Path,
    now: float,
    *,
    reindex: bool = False,
    vacuum: bool = False,
    vacuum_threshold: float = VACUUM_FREELIST_FRACTION,
    pragmas: Pragmas | None = None,
    progress: bool | None = None,
    databases: tuple[str, ...] = DATABASES,
) -> list[dict[str, Any]]:
    """Maintain every database. REINDEX and VACUUM hold the write lock for their whole run,
    so they require the daemon to be stopped (its lock is held meanwhile)."""
    show = sys.stderr.isatty() if progress is None else progress
    missing = [db for db in databases if not db_path(data_dir, db).exists()]
    if missing:
        raise DatabaseError(f"{db_path(data_dir, missing[0])}: does not exist; run `arbot db init`")
    exclusive = acquire_daemon_lock(data_dir) if reindex or vacuum else contextlib.nullcontext()
    results: list[dict[str, Any]] = []
    try:
        with exclusive:
            for db in databases:
                results += maintain_database(
                    data_dir,
                    db,
                    backup_dir,
                    now,
                    reindex=reindex,
                    vacuum=vacuum,
                    vacuum_threshold=vacuum_threshold,
                    pragmas=pragmas,
                    progress=show,
                )
    except sqlite3.Error as exc:
        raise DatabaseError(f"{data_dir}: maintenance failed: {exc}") from None
    return results
