"""End to end: quotes/s from the fakes' websockets to committed rows, through the real
daemon (`arbot run`, detector on, SQLite, default storage settings), with the feeds in
its process (workers=1) and in two worker processes (workers=2).

The fakes of capture_workers (4 x 15 symbols, pre-rendered numbered frames). Each mode
climbs a ladder of rates until a run falls short: rows committed per second over a
steady window (the daemon's arbot_ticks_committed_total) below 0.97 of the quotes sent
in it (commits come in batches of up to linger_ms: the window's edges cut one), or a
quote not stored exactly once (after the fakes fall silent and SIGTERM, every number
sent is compared with the rows: all of them, not only the window's). CPU: the
daemon and its workers (/proc) over the window, per row committed in it.
ARBOT_BENCH_E2E_SECONDS sets the window (default 10)."""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import read
from tests.reliability.config import exchange, free_port, to_toml
from tests.reliability.daemon import Daemon, metric, wait_until

from arbot.localmarket.process import FakeProcess
from bench.capture_workers import FAKES, SYMBOLS, cpu_seconds, sent_count

LADDER = (100, 150, 200, 250, 300, 400, 500, 600)  # asked, /s/symbol
WINDOW = float(os.environ.get("ARBOT_BENCH_E2E_SECONDS", "10"))
SETTLE = 3.0  # seconds without a commit after the fakes fall silent (ws only: no polls)
Numbers = dict[tuple[str, str], Counter[int]]


@dataclass(frozen=True, slots=True)
class Run:
    workers: int
    rate: int
    sent_per_s: float  # quotes sent per second in the window (all symbols)
    committed_per_s: float  # rows committed per second in the window
    cpu_us: float  # daemon + workers CPU per row committed in the window
    missing: int  # quotes sent and never stored
    extra: int  # rows stored more than once or never sent

    @property
    def passed(self) -> bool:
        return self.committed_per_s >= 0.97 * self.sent_per_s and not self.missing | self.extra


def _numbers(data: Path) -> Numbers:
    out: Numbers = {}
    for name, symbol, size in read(data, "SELECT exchange, symbol, ask_size FROM tickers"):
        out.setdefault((str(name), str(symbol)), Counter())[int(size)] += 1  # type: ignore[call-overload]
    return out


def _committed(daemon: Daemon) -> float:
    return metric(daemon.scrape(), "arbot_ticks_committed_total")


def measure(workers: int, rate: int) -> Run:
    symbols = tuple(f"T{i:02d}/USDT" for i in range(SYMBOLS))
    with tempfile.TemporaryDirectory(prefix="arbot-e2e-") as tmp, ExitStack() as stack:
        data, port = Path(tmp) / "data", free_port()
        fakes = {
            f"{kind}-{i}": stack.enter_context(
                FakeProcess(kind, symbols, rate, extra=("--prerendered",))
            )
            for i, (kind, _) in enumerate(FAKES)
        }
        doc = {
            "storage": {"data_dir": str(data)},
            "feeds": {"workers": workers},
            "metrics": {"listen": f"127.0.0.1:{port}"},
            "logging": {"format": "json", "level": "info"},
            "retention": {"enabled": False},
            "backup": {"enabled": False},
            "exchanges": [
                exchange(n, f.kind, f.url, f.symbols, mode="ws") for n, f in fakes.items()
            ],
        }
        config = Path(tmp) / "arbot.toml"
        config.write_text(to_toml(doc), encoding="utf-8")
        daemon = stack.enter_context(Daemon(config, port))

        def flowing() -> bool:
            daemon.check_alive()
            return daemon.try_scrape() is not None and _committed(daemon) > 0

        wait_until(flowing, 120, "rows committed")
        time.sleep(3.0)  # every feed connected and past its first burst
        pids = [daemon.pid] + [
            int(e["pid"]) for e in daemon.stderr.events if e["event"] == "worker_started"
        ]

        def sent() -> int:
            return sum(
                int(sum(f.control("/_control/counters")["sent"].values())) for f in fakes.values()
            )

        s0, c0, t0 = sum(map(sent_count, fakes.values())), _committed(daemon), time.monotonic()
        cpu0 = sum(cpu_seconds(p) for p in pids)
        time.sleep(WINDOW)
        cpu1 = sum(cpu_seconds(p) for p in pids)
        s1, c1, t1 = sum(map(sent_count, fakes.values())), _committed(daemon), time.monotonic()
        for f in fakes.values():
            f.silence()
        numbers: Numbers = {
            (n, s): Counter(x) for n, f in fakes.items() for s, x in f.sent().items()
        }
        # What is still on the wire or in a worker's socket was not captured: SIGTERM
        # commits what was, so stop once the commits settle.
        settled, last = time.monotonic() + SETTLE, _committed(daemon)
        give_up = time.monotonic() + 60
        while time.monotonic() < min(settled, give_up):
            time.sleep(0.5)
            now = _committed(daemon)
            if now != last:
                settled, last = time.monotonic() + SETTLE, now
        daemon.terminate(60)
        stored = _numbers(data)
    missing = sum(len(n - stored.get(k, Counter())) for k, n in numbers.items())
    extra = sum(sum((c - numbers.get(k, Counter())).values()) for k, c in stored.items())
    return Run(
        workers,
        rate,
        (s1 - s0) / (t1 - t0),
        (c1 - c0) / (t1 - t0),
        (cpu1 - cpu0) / max(1.0, c1 - c0) * 1e6,
        missing,
        extra,
    )


def main() -> None:
    print(
        f"{len(FAKES)} fakes x {SYMBOLS} symbols (pre-rendered frames) -> arbot run "
        f"(detector on, SQLite) -> committed rows; {WINDOW:g} s window"
    )
    print(
        f"{'workers':>7}{'rate/s/sym':>11}{'sent/s':>10}{'committed/s':>12}"
        f"{'CPU us/row':>11}{'missing':>8}{'extra':>6}{'pass':>5}"
    )
    best: dict[int, Run] = {}
    for workers in (1, 2):
        for rate in LADDER:
            r = measure(workers, rate)
            print(
                f"{r.workers:>7}{r.rate:>11}{r.sent_per_s:>10,.0f}{r.committed_per_s:>12,.0f}"
                f"{r.cpu_us:>11.1f}{r.missing:>8}{r.extra:>6}{'yes' if r.passed else 'no':>5}",
                flush=True,
            )
            if not r.passed:
                break
            best[workers] = r
    figures = " ".join(
        f"workers={w} {best[w].committed_per_s:,.0f}/s ({best[w].cpu_us:.1f} us/row)"
        if w in best
        else f"workers={w} -"
        for w in (1, 2)
    )
    print(f"end_to_end: every quote stored, committed up to: {figures}")
