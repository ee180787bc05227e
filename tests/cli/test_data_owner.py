"""Tools run by another uid than the data's owner never leave files the service cannot open:
root acts as the owner; anyone else is refused with the command that works. Real processes
(a uid switch cannot be undone in the test process); needs root to create the situation."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbot.storage.schema import init_all

OWNER = 65534  # nobody: any uid other than root's shows the point
STRANGER = 65533
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as others")


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A data dir as the service leaves it: every file owned by OWNER, reachable by all
    (pytest's own tmp dirs are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="arbot-owner-", dir="/tmp"))
    top.chmod(0o755)
    data = top / "data"
    init_all(data)
    for path in [data, *data.rglob("*")]:
        os.chown(path, OWNER, OWNER)
    try:
        yield data
    finally:
        shutil.rmtree(top)


def readable_by_others(path: Path) -> bool:
    """Whether others may read `path` and pass through every directory above it."""
    return all(p.stat().st_mode & 0o005 == 0o005 for p in (path, *path.parents))


def stdlib_readable(python: str) -> bool:
    """Whether every directory above this Python's stdlib lets others through (a Python
    under /root does not: the service user could not run it, see the README)."""
    out = subprocess.run(
        [python, "-c", "import os; print(os.path.dirname(os.__file__))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.returncode == 0 and readable_by_others(Path(out.stdout.strip()))


def _readable_copy(src: str, dst: str) -> None:
    """A hard link where the file is readable by others already (cheap), else a copy made
    readable (a checkout under umask 077)."""
    if os.stat(src).st_mode & 0o004:
        try:
            os.link(src, dst)
            return
        except OSError:  # another filesystem
            pass
    shutil.copy2(src, dst)
    os.chmod(dst, 0o644)


def _mirror(sources: dict[str, Path]) -> Path:
    """World-readable copies of `sources` (name -> directory) under one new directory in
    /tmp, removed at exit: what the service user imports when the checkout is private (a
    clone in root's home or in a `mktemp -d` folder)."""
    top = Path(tempfile.mkdtemp(prefix="arbot-mirror-", dir="/tmp"))
    atexit.register(shutil.rmtree, top, True)
    for name, src in sources.items():
        shutil.copytree(
            src,
            top / name,
            copy_function=_readable_copy,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    for path in (top, *(p for p in top.rglob("*") if p.is_dir())):
        path.chmod(0o755)
    return top


@functools.cache
def runtime() -> tuple[str, str | None]:
    """(the interpreter the service user can run, the PYTHONPATH it needs): ours when
    others can read it and its packages, else the system's Python 3.11 with our package and
    site-packages on its path (what the README's install does), mirrored when private."""
    package = Path(__file__).parents[2] / "daemon"
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    if stdlib_readable(sys.executable) and all(map(readable_by_others, (package, site))):
        return sys.executable, None
    if not (Path(SYSTEM_PYTHON).exists() and stdlib_readable(SYSTEM_PYTHON)):
        return "", None
    if all(map(readable_by_others, (package, site))):
        return SYSTEM_PYTHON, f"{package}:{site}"
    top = _mirror({"pkg/arbot": package / "arbot", "site": site})
    return SYSTEM_PYTHON, f"{top / 'pkg'}:{top / 'site'}"


SYSTEM_PYTHON = "/usr/bin/python3"


def arbot(*argv: str, uid: int | None = None) -> subprocess.CompletedProcess[str]:
    python, pythonpath = runtime()
    if not python:
        pytest.skip("no Python that a non-root user can run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOT_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [python, "-m", "arbot", *argv]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def owners(data: Path) -> dict[str, int]:
    return {str(p.relative_to(data)): p.stat().st_uid for p in [data, *data.rglob("*")]}


def test_root_acts_as_the_data_owner(service_dir: Path) -> None:
    """backup, restore (lock file, pre-restore copy), prune, maintain, init as root: every
    file they create or replace belongs to the data dir's owner."""
    dd = ["--data-dir", str(service_dir)]
    done = arbot("db", "backup", *dd)
    assert done.returncode == 0, done.stderr
    assert "acting as nobody" in done.stderr
    [backup] = (service_dir / "backups").glob("arbot_*.db.gz")
    for argv in (["db", "restore", str(backup)], ["db", "prune"], ["db", "maintain"],
                 ["db", "init"], ["query", "signals"]):  # fmt: skip
        done = arbot(*argv, *dd)
        assert done.returncode == 0, (argv, done.stderr)
    got = owners(service_dir)
    assert "arbot.lock" in got and any("pre-restore" in p for p in got)
    assert {p: uid for p, uid in got.items() if uid != OWNER} == {}


def test_another_user_is_refused_with_the_command_that_works(service_dir: Path) -> None:
    before = owners(service_dir)
    done = arbot("db", "stats", "--data-dir", str(service_dir), uid=STRANGER)
    assert done.returncode == 4
    [line] = done.stderr.strip().splitlines()
    assert f"run: sudo -u nobody arbot db stats --data-dir {service_dir}" in line
    assert owners(service_dir) == before


@pytest.mark.skipif(stdlib_readable(sys.executable), reason="this Python is readable by all")
def test_a_python_the_owner_cannot_read_is_named_in_one_line(service_dir: Path) -> None:
    """Root running a Python under /root: switching to the owner would break later imports
    (and the service could not run it either), so the tool says so and stops."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "arbot", "db", "stats", "--data-dir", str(service_dir)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 4
    assert "this Python is not readable by nobody" in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr


def test_unreadable_inputs_get_one_line(service_dir: Path) -> None:
    """Files the user cannot read (root can read anything, so this runs as the owner):
    one line naming the file, a table exit code, no traceback."""
    locked = service_dir.parent / "locked"
    locked.mkdir()
    for name in ("backup.db.gz", "quotes.csv", "arbot.toml"):
        (locked / name).write_text("x")
        (locked / name).chmod(0)
    dd = ["--data-dir", str(service_dir)]
    cases = [
        (["db", "restore", str(locked / "backup.db.gz"), *dd], 2),
        (["replay", str(locked / "quotes.csv"), "--no-store", *dd], 2),
        (["backtest", str(locked / "quotes.csv"), *dd], 2),
        (["db", "stats", "--config", str(locked / "arbot.toml"), *dd], 3),
    ]
    for argv, code in cases:
        done = arbot(*argv, uid=OWNER)
        assert done.returncode == code, (argv, done.stderr)
        [line] = done.stderr.strip().splitlines()
        assert str(locked) in line and ("not readable" in line or "Permission denied" in line)
    # A folder on the way the user may not enter (a file under /root, say).
    closed = service_dir.parent / "closed"
    closed.mkdir(mode=0o700)
    (closed / "backup.db.gz").write_text("x")
    done = arbot("db", "restore", str(closed / "backup.db.gz"), *dd, uid=OWNER)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"{closed}/backup.db.gz: cannot reach (Permission denied)" in line


def test_root_initialising_the_service_dir_makes_it_the_services(tmp_path: Path) -> None:
    """`sudo arbot db init` before the unit's first start: the data dir is created owned by
    the service user (here `nobody` in place of `arbot`, the path in place of
    /var/lib/arbot), mode 0750, and everything in it is the service's."""
    top = Path(tempfile.mkdtemp(prefix="arbot-service-", dir="/tmp"))
    top.chmod(0o755)  # as /var/lib is
    try:
        service = top / "var-lib-arbot"
        python, pythonpath = runtime()
        if not python:
            pytest.skip("no Python that a non-root user can run")
        script = (
            "import sys; from pathlib import Path; from arbot.cli import main, owner; "
            f"owner.SERVICE_DATA_DIR = Path({str(service)!r}); owner.SERVICE_USER = 'nobody'; "
            f"sys.exit(main(['db', 'init', '--data-dir', {str(service)!r}]))"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOT_")}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        done = subprocess.run(
            [python, "-c", script], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        assert service.stat().st_mode & 0o777 == 0o750
        assert set(owners(service).values()) == {OWNER}
    finally:
        shutil.rmtree(top)


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="needs systemd-sysusers")
def test_the_shipped_sysusers_file_creates_the_unit_user(tmp_path: Path) -> None:
    """systemd/arbot.sysusers makes the static user the unit runs as (User=/Group=)."""
    (tmp_path / "etc").mkdir()
    sysusers = Path(__file__).parents[2] / "systemd"
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(sysusers / "arbot.sysusers")],
        check=True, capture_output=True,
    )  # fmt: skip
    [entry] = [
        e for e in (tmp_path / "etc/passwd").read_text().splitlines() if e.startswith("arbot:")
    ]
    _, _, uid, _, _, home, shell = entry.split(":")
    assert int(uid) < 1000 and home == "/var/lib/arbot" and shell.endswith("nologin")
    unit = (sysusers / "arbot.service").read_text().splitlines()
    assert "User=arbot" in unit and "Group=arbot" in unit and "DynamicUser=yes" not in unit
