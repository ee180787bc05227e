"""`arbot db ...` on PostgreSQL (storage.backend = "postgresql"): each function returns what
the command prints. File-level commands that have no meaning on a server refuse in one
line naming the PostgreSQL tool that does the job."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Any

import psycopg

from arbot.errors import DatabaseError
from arbot.rollup import DailyRollup
from arbot.settings import Settings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.errors import one_line
from arbot.storage.pg.jobs import require_owner
from arbot.storage.pg.partitions import ensure_ahead, partition_days
from arbot.storage.pg.retention import prune as prune_ticks
from arbot.storage.pg.rollups import run_rollup
from arbot.storage.pg.schema import check_schema, describe, migrate
from arbot.storage.pg.shard import shard_of

_TABLES = (
    "ticks",
    "books",
    "arbitrage_signals",
    "signal_episodes",
    "trades",
    "balances",
    "feed_gaps",
    "ohlcv",
    "backtest_runs",
)


def init(settings: Settings, now: float) -> dict[str, Any]:
    with connect(settings.postgresql) as conn:
        version = migrate(conn)
        ensure_ahead(conn, now, settings.postgresql.partitions_ahead_days)
        info = conn.execute("SELECT current_database(), current_schema()").fetchone() or ("", "")
        return {
            "backend": "postgresql",
            "database": info[0],
            "schema": f"{info[1]} v{version}",
            "tick partitions": len(partition_days(conn)),
        }


def prune(settings: Settings, now: float) -> dict[str, Any]:
    with connect(settings.postgresql, statement_timeout=False) as conn:
        check_schema(conn)
        require_owner(conn, "db prune", "run it as the role that owns the tables")
        report = prune_ticks(conn, settings.retention, now)
    return {
        "bars_written": report.bars_written,
        "archived_until": report.archived_until,
        "partitions_dropped": len(report.partitions_dropped),
        "book_partitions_dropped": len(report.book_partitions_dropped),
        **{f"{table}_deleted": n for table, n in report.rows_deleted.items()},
        "seconds": round(report.seconds, 3),
    }


def rollup(settings: Settings, day: date) -> DailyRollup:
    """`arbot db rollup`: one day's performance_metrics and symbol_stats, of all shards."""
    with connect(settings.postgresql) as conn:
        check_schema(conn)
        return run_rollup(conn, day)


def stats(settings: Settings) -> dict[str, Any]:
    """Sizes (table + indexes), estimated row counts, and ticks per shard of [shard] count."""
    with connect(settings.postgresql) as conn:
        check_schema(conn)
        sizes = {
            table: conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), "
                "coalesce(sum(greatest(c.reltuples, 0)), 0) FROM pg_class c "
                "WHERE c.oid = to_regclass(%s) OR c.oid IN "
                "(SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s))",
                (table, table),
            ).fetchone()
            for table in _TABLES
        }
        per_symbol = conn.execute(
            "SELECT s.name, count(*) FROM ticks t JOIN symbols s ON s.id = t.symbol_id "
            "GROUP BY s.name"
        ).fetchall()
        partitions = len(partition_days(conn))
    count = settings.shard.count
    per_shard = dict.fromkeys(range(count), 0)
    for symbol, n in per_symbol:
        per_shard[shard_of(symbol, count)] += n
    return {
        "backend": "postgresql",
        "tables": {
            t: {"bytes": int(v[0]), "rows_estimate": int(v[1])} for t, v in sizes.items() if v
        },
        "tick_partitions": partitions,
        "ticks_per_shard": {f"{i}/{count}": n for i, n in per_shard.items()},
    }


def database_bytes(settings: Settings) -> int:
    """The size of the server's database (all schemas), for the size gauge."""
    try:
        with connect(settings.postgresql) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    except psycopg.Error as exc:
        raise DatabaseError(f"postgresql: {one_line(exc)}") from None
    return int(row[0]) if row else 0


def refuse_file_command(command: str) -> DatabaseError:
    tool = {"backup": "pg_dump", "restore": "pg_restore"}.get(command, "PostgreSQL's own tools")
    return DatabaseError(
        f"db {command}: storage.backend is postgresql; use {tool} on the server instead "
        "(README: Scaling out)"
    )


def explain(settings: Settings, statement: str) -> str:
    """The generic plan of one statement (as for any parameter values), inside a READ ONLY
    transaction that is rolled back. SQLite's `?` placeholders, as in the README's
    examples, are its parameters."""
    sql, count = _numbered_placeholders(statement)
    nulls = ", ".join(["NULL"] * count)
    with connect(settings.postgresql) as conn:
        conn.execute("BEGIN READ ONLY")
        try:
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            conn.execute(f"PREPARE arbot_explain AS {sql}")
            rows = conn.execute(
                f"EXPLAIN EXECUTE arbot_explain{f'({nulls})' if count else ''}"
            ).fetchall()
        except Exception as exc:
            raise DatabaseError(f"db explain: {str(exc).splitlines()[0]}") from None
        finally:
            conn.execute("ROLLBACK")
    return "\n".join(str(r[0]) for r in rows)


def maintain(settings: Settings, *, vacuum: bool) -> list[dict[str, Any]]:
    """ANALYZE (the planner's statistics), or VACUUM (ANALYZE) on request, as the step
    `arbot db maintain` lists. Autovacuum does the routine work; whole-partition drops
    leave no dead rows to reclaim."""
    step = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
    started = time.monotonic()
    with connect(settings.postgresql, statement_timeout=False) as conn:
        check_schema(conn)
        conn.execute(step)
        where = describe(conn)
    seconds = time.monotonic() - started
    return [{"database": where, "step": step, "seconds": seconds, "result": "done"}]


# A quoted string or identifier, or one `?` outside them.
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?""")


def _numbered_placeholders(statement: str) -> tuple[str, int]:
    """`statement` with each `?` outside quotes as $1, $2, ... and how many there are."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _TOKEN.sub(number, statement), count
