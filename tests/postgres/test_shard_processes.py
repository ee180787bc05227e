"""Two real `arbot run` processes, shard 0/2 and 1/2, against the local fake exchanges
(processes of their own) into one PostgreSQL database, beside a one-daemon reference run
into a database of its own, all three at the same time over the same quotes:

* every symbol's ticks come from exactly one shard: each daemon's committed count equals the
  rows stored for its own symbols, the two symbol sets are disjoint and cover all;
* after SIGTERM each daemon has accepted == committed and exits 0;
* signals are found as with one daemon. The fakes dislocate on the wall clock: kraken quotes
  +0.6 % during [k·4 s, k·4 s + 1.5 s) for every integer k, so every dislocation k must
  show as a signal for each symbol and each cheaper venue (buy there, sell on kraken). The
  exact signal times are each daemon's own clock, so runs are compared on the key
  (symbol, buy exchange, sell exchange, dislocation k) over the dislocations that all three
  daemons saw whole: the two-shard set equals the one-daemon set, and both equal the set
  the fakes' schedule implies.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from arbot.settings import PostgresSettings, ShardSettings
from arbot.storage.pg.records_sql import ID_RANGE_BITS
from arbot.storage.pg.shard import owns, shard_of
from tests.postgres.cluster import Cluster
from tests.reliability.config import GRACE, daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import Daemon, metric
from tests.reliability.fakes import DISLOCATION, FakeMarket

pytestmark = pytest.mark.integration

VENUES = ("binance:binance", "binance2:binance", "kraken:kraken")  # receive-time stamps
SYMBOLS = ("BTC/USDT", "ETH/USDT")  # the fakes' own: one per shard
DISLOCATED = "kraken"
EVERY = float(DISLOCATION[1])
LENGTH = float(DISLOCATION[5])
SLOTS = 3  # whole dislocations all three daemons must see
RATE = 10.0  # quotes per second per symbol and venue

Key = tuple[str, str, str, int]


@pytest.fixture
def reference_db(pg_cluster: Cluster) -> Iterator[str]:
    """A database of its own for the one-daemon run (shard locks are per database)."""
    name = f"ref_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_cluster.conninfo(dbname=name)
    with psycopg.connect(pg_cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def start(tmp: Path, name: str, fakes: FakeMarket, conninfo: str, shard: ShardSettings) -> Daemon:
    port = free_port()
    exchanges = [exchange(n, fakes.ccxt_ids[n], url) for n, url in fakes.urls.items()]
    doc = daemon_doc(
        tmp / name,
        exchanges,
        port,
        storage={"backend": "postgresql"},
        postgresql={"conninfo": conninfo},
        shard={"index": shard.index, "count": shard.count},
    )
    return Daemon(write_config(tmp / f"{name}.toml", doc), port)


def receives_every_venue(daemon: Daemon) -> bool:
    samples = daemon.try_scrape()
    return samples is not None and all(
        metric(samples, "arbot_ticks_received_total", exchange=v.split(":")[0]) > 0 for v in VENUES
    )


def signal_keys(conninfo: str, slots: range) -> tuple[set[Key], list[tuple[int, str]]]:
    """(symbol, buy, sell, dislocation k) of the signals in `slots`; and (id, symbol) of all."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id, symbol, buy_exchange, sell_exchange, timestamp FROM arbitrage_signals"
        ).fetchall()
    keys = {(s, b, x, math.floor(ts / EVERY)) for _, s, b, x, ts in rows}
    return {k for k in keys if k[3] in slots}, [(i, s) for i, s, *_ in rows]


def test_two_shard_processes_write_one_database_as_one_daemon_would(
    tmp_path: Path, pg_settings: PostgresSettings, reference_db: str
) -> None:
    shards = [ShardSettings(index=i, count=2) for i in (0, 1)]
    assert {shard_of(s, 2) for s in SYMBOLS} == {0, 1}  # both shards have work
    with FakeMarket(VENUES, RATE, dislocate=(DISLOCATED,)) as fakes:
        daemons = [
            start(tmp_path, f"shard{sh.index}", fakes, pg_settings.conninfo, sh) for sh in shards
        ]
        daemons.append(start(tmp_path, "reference", fakes, reference_db, ShardSettings()))
        try:
            deadline = time.monotonic() + 90
            while not all(receives_every_venue(d) for d in daemons):
                for d in daemons:
                    d.check_alive()
                assert time.monotonic() < deadline, "\n".join(d.tail() for d in daemons)
                time.sleep(0.2)
            first = math.ceil(time.time() / EVERY)
            slots = range(first, first + SLOTS)
            # Past the last dislocation's end, plus time for its signals to be committed.
            time.sleep(max(0.0, slots[-1] * EVERY + LENGTH + 1.0 - time.time()))
            codes = [d.terminate(GRACE + 5)[0] for d in daemons]
            finals = [d.final_event() for d in daemons]
        finally:
            for d in daemons:
                d.__exit__(None, None, None)

    assert codes == [0, 0, 0], [d.tail() for d in daemons]
    for final in finals:
        assert final["event"] == "daemon_stopped"
        assert final["ticks_accepted"] == final["ticks_committed"] > 0
    committed = [f["ticks_committed"] for f in finals[:2]]

    with psycopg.connect(pg_settings.conninfo) as conn:
        rows = conn.execute("SELECT symbol, count(*) FROM tickers GROUP BY symbol").fetchall()
    stored: dict[str, int] = dict(rows)
    own = [{s for s in SYMBOLS if owns(sh, s)} for sh in shards]
    assert own[0].isdisjoint(own[1]) and own[0] | own[1] == set(SYMBOLS) == set(stored)
    for mine, n in zip(own, committed, strict=True):
        assert sum(stored[s] for s in mine) == n  # that shard's symbols, from it alone

    sharded, ids = signal_keys(pg_settings.conninfo, slots)
    alone, _ = signal_keys(reference_db, slots)
    expected = {
        (s, v.split(":")[0], DISLOCATED, k)
        for s in SYMBOLS
        for v in VENUES
        if not v.startswith(DISLOCATED)
        for k in slots
    }
    assert alone == expected
    assert sharded == alone
    for sid, symbol in ids:  # each signal written by the shard owning its symbol
        assert (sid >> ID_RANGE_BITS) - 1 == shard_of(symbol, 2)
