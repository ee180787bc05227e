"""A throw-away PostgreSQL cluster from the installed server binaries: initdb on a temporary
directory, the server listening on a Unix socket there only (no TCP port to collide with
parallel runs). initdb refuses to run as root, so as root the cluster runs as the Debian
`postgres` user (runuser); the directory is owned by that user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

ENABLE_HINT = (
    "PostgreSQL tests skipped: server binaries (initdb, pg_ctl) not found; "
    "install the Debian package `postgresql` (CI sets ARBOT_REQUIRE_POSTGRES=1 and runs them)"
)
REQUIRE_ENV = "ARBOT_REQUIRE_POSTGRES"
SUPERUSER = "postgres"


def server_bindir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, newest version first."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class Cluster:
    """One server on a socket in its own temporary directory."""

    def __init__(self, bindir: Path, parent: Path | None = None) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="arbot-pg-", dir=parent))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, check=check, timeout=120
        )

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        # The superuser over the socket without a password (the tests' own connections);
        # every other role must give its password, so password handling is really tested.
        hba = self.data / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        if self._as_user:
            user = pwd.getpwnam("postgres")
            os.chown(hba, user.pw_uid, user.pw_gid)

    def start(self, *, durable: bool = False, settings: str = "") -> None:
        """Durable for benchmarks; otherwise fsync off: a test cluster need not survive a
        power cut, and it spares the shared machine's disk (crash-safety tests kill our
        processes, never the kernel)."""
        options = f"-k {self.socket_dir} -c listen_addresses='' -c max_connections=100"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += f" {settings}" if settings else ""
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        # -l again: without it the new server writes to our captured pipe and keeps it open.
        log = str(self.root / "server.log")
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            log,
            "-m",
            "fast",
            "-w",
            "restart",
        )

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def pause(self) -> None:
        """Freeze the server (every backend): connections hang, nothing is refused."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, sig: signal.Signals) -> None:
        main = self.postmaster_pid
        children = subprocess.run(
            ["pgrep", "-P", str(main)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in [main, *map(int, children)]:
            os.kill(pid, sig)

    def conninfo(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"host={self.socket_dir} dbname={dbname} user={user}"

    def remove(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            "immediate",
            "stop",
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)
