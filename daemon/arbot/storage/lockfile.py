"""The daemon's exclusive lock on `<data_dir>/arbot.lock`: tools that must not run beside a
live daemon (restore, VACUUM) check it, and hold it themselves while they work."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from arbot.errors import DatabaseError

LOCK_NAME = "arbot.lock"


def lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_NAME


@contextlib.contextmanager
def acquire_daemon_lock(data_dir: Path) -> Iterator[Path]:
    """Hold the exclusive lock for the block; raise DatabaseError if another process has it.

    flock (not lockf): its locks belong to the open file, so a second open in the same
    process conflicts too, and the kernel drops it when the holder dies (even on SIGKILL).
    """
    path = lock_path(data_dir)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot open lock file: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            raise DatabaseError(
                f"{path}: held by a running arbot process{holder}; stop the daemon first "
                "(e.g. `systemctl stop arbot`)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text:
            return f" (pid {int(text)})"
    return ""


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the process holding the lock now, or None: none holds it (the pid a
    stopped daemon left in the file is not answered; it may belong to another process by
    now)."""
    try:
        fd = os.open(lock_path(data_dir), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(OSError, ValueError):
                return int(os.pread(fd, 32, 0).decode().strip())
        return None
    finally:
        os.close(fd)
