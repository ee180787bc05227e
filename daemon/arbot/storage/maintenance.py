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
from arbot.storage.backup import backup_database
from arbot.storage.connection import DATABASES, Pragmas, connect, db_path
from arbot.storage.lockfile import acquire_daemon_lock

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


def _step(
    results: list[dict[str, Any]], db: str, step: str, run: Callable[[], str], progress: bool
) -> str:
    started = time.monotonic()
    outcome = run()
    results.append(
        {"database": db, "step": step, "result": outcome, "seconds": time.monotonic() - started}
    )
    return outcome


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
    results: list[dict[str, Any]] = []
    conn = connect(path, pragmas)
    try:

        def run(step: str, sql: str, label: str) -> str:
            def go() -> str:
                with _progress(conn, f"{db}: {step}", progress):
                    conn.execute(sql)
                return label

            return _step(results, db, step, go, progress)

        # A row sample per index keeps ANALYZE cheap on big tables; plans only need shapes.
        conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT_ROWS}")
        run("analyze", "ANALYZE", "statistics updated")
        run("optimize", "PRAGMA optimize", "done")

        def check() -> str:
            with _progress(conn, f"{db}: check", progress):
                return _check(conn, path.stat().st_size)

        _step(results, db, "check", check, progress)
        if reindex:
            run("reindex", "REINDEX", "indexes rebuilt")
        if vacuum:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            fraction = free / pages if pages else 0.0
            if fraction <= vacuum_threshold:
                results.append(
                    {
                        "database": db,
                        "step": "vacuum",
                        "result": f"skipped: freelist {fraction:.1%} <= {vacuum_threshold:.0%}",
                        "seconds": 0.0,
                    }
                )
            else:
                # Never rewrite the whole file without a fresh verified copy to go back to.
                kept = backup_database(data_dir, db, backup_dir, now)
                results.append(
                    {
                        "database": db,
                        "step": "backup",
                        "result": str(kept.path),
                        "seconds": kept.seconds,
                    }
                )
                run("vacuum", "VACUUM", f"freelist was {fraction:.1%}")
    finally:
        conn.close()
    return results


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
