"""The real daemon as a subprocess: start it, read its JSON log lines (stderr), scrape its
/metrics, sample its memory and descriptors from /proc, stop or kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# The console script installed beside this interpreter (the venv's `arbot`).
ARBOT = [str(Path(sys.executable).with_name("arbot"))]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def arbot_command(*args: str) -> list[str]:
    return [*ARBOT, *args]


def start_args(config: Path) -> list[str]:
    """The arguments that start the daemon from `config`."""
    return ["run", "--config", str(config)]


def start_command(config: Path) -> list[str]:
    return arbot_command(*start_args(config))


def start_once(config: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Start the daemon for a run that must end by itself (a refused start)."""
    return subprocess.run(
        start_command(config),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # time.monotonic()
    rss: int
    fds: int
    metrics: Samples


class LogReader:
    """Collects a stream's lines on a thread; JSON lines are parsed, others kept as text."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            with self._lock:
                self.lines.append(line)
                if isinstance(event, dict):
                    self.events.append(event)
        stream.close()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    @property
    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


def parse_metrics(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def metric(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class Daemon:
    """`arbot run --config PATH` as a child process. Use as a context manager: whatever
    happens in the test, the process is killed and reaped at exit."""

    def __init__(
        self, config: Path, metrics_port: int | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.metrics_port = metrics_port
        # Not under systemd here, even if the test runner is (unless `env` says so).
        base = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        self.proc = subprocess.Popen(
            start_command(config),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**base, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stderr = LogReader(self.proc.stderr)
        self.stdout = LogReader(self.proc.stdout)
        self.started = time.monotonic()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.stderr.join()
        self.stdout.join()

    @property
    def pid(self) -> int:
        return self.proc.pid

    # --- observing -------------------------------------------------------------------
    def scrape(self, timeout: float = 5.0) -> Samples:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return parse_metrics(resp.read().decode())

    def try_scrape(self) -> Samples | None:
        try:
            return self.scrape()
        except OSError:
            return None

    def wait_metric(
        self, name: str, at_least: float, timeout: float = 60.0, **labels: str
    ) -> Samples:
        """Scrape until metric `name` (summed over matching labels) reaches `at_least`."""

        def reached() -> Samples | None:
            self.check_alive()
            samples = self.try_scrape()
            return samples if samples and metric(samples, name, **labels) >= at_least else None

        result: Samples = wait_until(reached, timeout, f"{name}{labels or ''} >= {at_least}")
        return result

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"daemon exited with {self.proc.returncode}; stderr tail:\n{self.tail()}"
            )

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr.lines[-lines:])

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def sample(self) -> Sample:
        """One observation of the running process: /proc figures and a scrape."""
        self.check_alive()
        return Sample(time.monotonic(), self.rss_bytes(), self.fd_count(), self.scrape())

    def sample_until(self, done: Callable[[], bool], every: float = 0.5) -> list[Sample]:
        """Sample every `every` seconds until `done()` (checked between samples)."""
        out = [self.sample()]
        while not done():
            time.sleep(every)
            out.append(self.sample())
        return out

    # --- stopping --------------------------------------------------------------------
    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; return (exit code, seconds to exit). Fails if it outlives `timeout`."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"daemon still running {timeout} s after SIGTERM; stderr tail:\n{self.tail()}"
            ) from None
        self.stderr.join()
        return code, time.monotonic() - t0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self.stderr.join()

    def final_event(self) -> dict[str, Any]:
        """The last JSON log line the daemon wrote."""
        assert self.stderr.events, f"daemon wrote no JSON log line; stderr:\n{self.tail()}"
        return self.stderr.events[-1]
