"""Symbol sharding: each symbol belongs to exactly one of `count` shards by a stable hash of
its name, so every exchange's quotes for a symbol reach the same daemon and detection stays
local. A daemon holds its shard by a session advisory lock on the database it writes, and
is fenced by the shard's lease: the lock dies with the session (a server restart), so a
second daemon may take it while the first reconnects with a backlog. The writer takes the
lease when it starts (a new generation) and checks it in every batch's transaction, with
the row locked until the commit: a writer whose generation was superseded commits nothing
more (Fenced), and a take-over waits for the batch in flight."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterable
from typing import Any

import psycopg

from arbot.errors import DatabaseError
from arbot.settings import Settings, ShardSettings
from arbot.storage.batches import Fenced

# pg_try_advisory_lock(key, shard index) key of shard locks ('ARBS').
SHARD_LOCK = 0x41524253


def shard_of(symbol: str, count: int) -> int:
    """Stable across processes, machines and Python versions (unlike hash())."""
    digest = hashlib.blake2b(symbol.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def owns(shard: ShardSettings, symbol: str) -> bool:
    return shard.count == 1 or shard_of(symbol, shard.count) == shard.index


def own_symbols(shard: ShardSettings, symbols: Iterable[str]) -> tuple[str, ...]:
    return tuple(s for s in symbols if owns(shard, s))


def label(shard: ShardSettings) -> str:
    return f"{shard.index}/{shard.count}"


class ShardTaken(DatabaseError):
    """Another session holds this shard's lock."""


def lock_shard(conn: psycopg.Connection[Any], shard: ShardSettings) -> None:
    """Hold `shard` for the life of `conn`'s session, or raise ShardTaken naming the
    holder. The session's application_name says which shard it serves."""
    conn.execute(
        "SELECT set_config('application_name', %s, false)", (f"arbot shard {label(shard)}",)
    )
    (ok,) = conn.execute(
        "SELECT pg_try_advisory_lock(%s, %s)", (SHARD_LOCK, shard.index)
    ).fetchone() or (False,)
    if ok:
        return
    holder = conn.execute(
        "SELECT a.pid, a.application_name, coalesce(host(a.client_addr), 'local') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.classid = %s::oid AND l.objid = %s::oid "
        "AND l.objsubid = 2",
        (SHARD_LOCK, shard.index),
    ).fetchone()
    who = f" (backend pid {holder[0]}, {holder[1]!r}, from {holder[2]})" if holder else ""
    raise ShardTaken(
        f"postgresql: shard {label(shard)} is already held by another arbot process{who}; "
        "stop it first (a replay) or give each daemon its own [shard] index"
    )


def take_lease(conn: psycopg.Connection[Any], shard: ShardSettings) -> int:
    """A new generation of `shard`'s lease, for this process; call it holding the shard's
    lock. Waits for a batch of the previous holder in flight (its row lock)."""
    holder = f"arbot shard {label(shard)}, pid {os.getpid()} on {socket.gethostname()}"
    (generation,) = conn.execute(
        "INSERT INTO shard_leases (shard, generation, holder, taken_at) VALUES (%s, 1, %s, %s) "
        "ON CONFLICT (shard) DO UPDATE SET generation = shard_leases.generation + 1, "
        "holder = EXCLUDED.holder, taken_at = EXCLUDED.taken_at RETURNING generation",
        (shard.index, holder, time.time()),
    ).fetchone() or (0,)
    return int(generation)


def check_lease(
    conn: psycopg.Connection[Any], shard: ShardSettings, generation: int, *, lock: bool = False
) -> None:
    """Raise Fenced unless `shard`'s lease is still at `generation`. With `lock` (inside the
    batch's transaction) the row stays locked until its commit: no take-over in between."""
    row = conn.execute(
        "SELECT generation, holder FROM shard_leases WHERE shard = %s"
        + (" FOR UPDATE" if lock else ""),
        (shard.index,),
    ).fetchone()
    if row is not None and row[0] == generation:
        return
    now = f"generation {row[0]}, {row[1]}" if row else "no lease at all"
    raise Fenced(
        f"postgresql: shard {label(shard)} was taken over by another writer ({now}; ours "
        f"was {generation}); this daemon stops writing and exits, its unwritten backlog "
        "counted as dropped"
    )


def for_shard(settings: Settings) -> Settings:
    """`settings` with each exchange's symbols cut to this shard's; an exchange left with
    none is disabled (its feed would carry nothing this daemon stores)."""
    shard = settings.shard
    if shard.count == 1:
        return settings
    exchanges = []
    for ex in settings.exchanges:
        mine = own_symbols(shard, ex.symbols)
        update: dict[str, object] = {"symbols": mine} if mine else {"enabled": False}
        exchanges.append(ex.model_copy(update=update))
    return settings.model_copy(update={"exchanges": tuple(exchanges)})
