"""Daily partitions of `ticks`: created ahead (and on demand by the writer for any day a
batch touches), listed and dropped whole by retention."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

DAY = 86400
_NAME = re.compile(r"^ticks_(\d{8})$")


def day_of(ts: float) -> int:
    """The day number (UNIX days) holding `ts`."""
    return math.floor(ts / DAY)


def ensure_days(conn: psycopg.Connection[Any], days: Iterable[int]) -> None:
    """Create the partitions of `days`, each in its own short transaction (autocommit)."""
    for day in sorted(days):
        conn.execute("SELECT ensure_tick_partition(%s)", (float(day * DAY),))


def ensure_ahead(conn: psycopg.Connection[Any], now: float, days_ahead: int) -> None:
    """Today's partition and the next `days_ahead` days'."""
    today = day_of(now)
    ensure_days(conn, range(today, today + days_ahead + 1))


def partition_days(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """day number -> partition name, of the partitions of ticks that exist."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'ticks'::regclass"
    ).fetchall()
    out: dict[int, str] = {}
    for (name,) in rows:
        if m := _NAME.match(name):
            day = datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC)
            out[int(day.timestamp()) // DAY] = name
    return out
