"""Split brain on one shard, as found in the field, five times over (the race has several
outcomes): shard 0/2 runs (daemon A) against the fakes; the server stops with `pg_ctl stop
-m immediate`; a second 0/2 daemon (B, short retry) is started and waits for it; the server
starts. Either B wins the shard and A, reconnecting, finds its lease superseded and stands
down (exit 4, its unwritten backlog counted as dropped), or A re-takes it first and B is
refused (exit 4, shard held). Never both:

* at no moment do both commit: with track_commit_timestamp on, every stored row's commit
  time says which daemon wrote it (A's exchanges are named a-*, B's b-*), and in commit
  order the writer changes at most once, from A to B;
* after both stop, every tick each daemon committed is stored once (the fakes' venues stamp
  receive times, so stored keys are unique) and each one's accepted ticks are committed,
  skipped or counted dropped;
* every signal is stored or counted in records_dropped of its daemon's final line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.postgres.roles import Roles, make_roles
from tests.reliability.config import GRACE
from tests.reliability.daemon import Daemon, metric, wait_until
from tests.reliability.fakes import FakeMarket
from tests.reliability.pg import own_cluster, pg_daemon_config
from tests.reliability.scenario import COUNTED_VENUES

ROUNDS = 5
RATE = 20.0  # quotes per second per symbol and venue: two daemons share two cores
SHARD = {"index": 0, "count": 2}  # ETH/USDT, one of the fakes' two symbols
DISLOCATED = "kraken"
EXIT_DATABASE = 4
# Durable (synchronous commits): an immediate stop must not lose what was acknowledged.
TRACK_COMMITS = "-c track_commit_timestamp=on"
# Rows of every table the daemons write, and which daemon wrote each (its exchanges).
WRITERS = """
SELECT pg_xact_commit_timestamp(t.xmin) AS at, left(e.name, 1) AS daemon
FROM ticks t JOIN exchanges e ON e.id = t.exchange_id
UNION ALL SELECT pg_xact_commit_timestamp(xmin), left(buy_exchange, 1) FROM arbitrage_signals
UNION ALL SELECT pg_xact_commit_timestamp(xmin), left(exchange, 1) FROM feed_gaps
"""


def commit_order(roles: Roles) -> list[str]:
    """The daemons in the order their transactions committed, repeats collapsed."""
    with roles.superuser() as su:
        rows = su.execute(f"SELECT DISTINCT at, daemon FROM ({WRITERS}) w ORDER BY at").fetchall()
    order: list[str] = []
    for _, daemon in rows:
        if not order or order[-1] != daemon:
            order.append(str(daemon))
    return order


def stored(roles: Roles, daemon: str) -> tuple[int, int]:
    """(ticks, signals) stored with `daemon`'s exchanges."""
    with roles.superuser() as su:
        row = su.execute(
            "SELECT (SELECT count(*) FROM tickers WHERE left(exchange, 1) = %s), "
            "(SELECT count(*) FROM arbitrage_signals WHERE left(buy_exchange, 1) = %s)",
            (daemon, daemon),
        ).fetchone()
    assert row is not None
    return int(str(row[0])), int(str(row[1]))


def one_round(tmp: Path, fakes: FakeMarket, cluster: Any) -> tuple[str, str]:
    """One take-over race: (who stood down, its figures)."""
    roles = make_roles(cluster, tmp / "secrets")
    common: dict[str, Any] = {
        "shard": SHARD,
        "storage": {"retry_max_seconds": 0.2},
        "postgresql": {"connect_timeout": 2},
    }
    configs = {d: pg_daemon_config(tmp, d, fakes, roles, prefix=f"{d}-", **common) for d in "ab"}
    daemons: dict[str, Daemon] = {}
    try:
        daemons["a"] = Daemon(*configs["a"])
        daemons["a"].wait_metric("arbot_signals_recorded_total", 1, timeout=90)
        committed = metric(daemons["a"].scrape(), "arbot_ticks_committed_total")
        daemons["a"].wait_metric("arbot_ticks_committed_total", committed + 1, timeout=30)
        cluster.stop("immediate")
        daemons["b"] = Daemon(*configs["b"])
        time.sleep(3.0)  # A's backlog grows; B waits for the server
        cluster.start(durable=True, settings=TRACK_COMMITS)

        def one_exited() -> str | None:
            exited = [d for d, p in daemons.items() if p.proc.poll() is not None]
            assert len(exited) < 2, {d: p.tail() for d, p in daemons.items()}
            return exited[0] if exited else None

        loser = wait_until(one_exited, 60, "one of the two daemons to stand down")
        winner = "b" if loser == "a" else "a"
        time.sleep(3.0)  # the survivor commits after the race
        codes = {loser: daemons[loser].proc.wait(10)}
        daemons[loser].stderr.join()
        codes[winner], _ = daemons[winner].terminate(GRACE + 5)
        finals = {d: p.final_event() for d, p in daemons.items()}
    finally:
        for p in daemons.values():
            p.__exit__(None, None, None)

    order = commit_order(roles)
    errors = [e["event"] for e in daemons[loser].stderr.events if e.get("level") == "error"]
    assert errors == (["writer_fenced"] if loser == "a" else ["daemon_failed"]), errors
    assert order in (["a"], ["a", "b"]), order  # never both, never A after B
    assert codes[loser] == EXIT_DATABASE and codes[winner] == 0, (codes, finals)
    for d, final in finals.items():
        ticks, signals = stored(roles, d)
        if final["event"] == "daemon_failed":  # B refused: the shard is held
            assert d == "b" and "already held" in final["error"], final
            assert (ticks, signals) == (0, 0)
            continue
        assert final["event"] == "daemon_stopped", final
        assert final["exit_code"] == codes[d]
        assert ticks == final["ticks_committed"]  # each committed tick stored once
        assert final["ticks_accepted"] == (
            final["ticks_committed"] + final["ticks_skipped"] + final["ticks_dropped"]
        )
        assert signals + final["records_dropped"].get("SignalFound", 0) == final["signals"]
    a = finals["a"]
    return loser, (
        f"{loser} out, A committed {a['ticks_committed']} dropped {a['ticks_dropped']}"
        f" signals {a['signals']} dropped {a['records_dropped'].get('SignalFound', 0)}"
    )


def test_split_brain_on_one_shard(tmp_path: Path, figures: dict[str, object]) -> None:
    outcomes = []
    with (
        own_cluster(TRACK_COMMITS, durable=True) as cluster,
        FakeMarket(COUNTED_VENUES, RATE, dislocate=(DISLOCATED,)) as fakes,
    ):
        for n in range(ROUNDS):
            loser, facts = one_round(tmp_path / f"round{n}", fakes, cluster)
            outcomes.append(loser)
            figures[f"round{n}"] = facts
    figures["a_stood_down"] = outcomes.count("a")
    figures["b_refused"] = outcomes.count("b")
