"""The ticks table on PostgreSQL: the writer's rows by binary COPY, or (a batch meeting a
key already stored) through a staging table and INSERT ... ON CONFLICT DO UPDATE, so the
later quote wins as with SQLite's INSERT OR REPLACE. Also the names' ids both tables use."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import psycopg

from arbot.models import Tick

COLUMNS = "ts, bid, ask, bid_size, ask_size, recv_delta_ms, symbol_id, exchange_id"
TYPES = ("float8", "float8", "float8", "float8", "float8", "int8", "int4", "int4")
COPY_SQL = f"COPY ticks ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
_STAGE_SQL = (
    "CREATE TEMP TABLE IF NOT EXISTS ticks_stage (LIKE ticks INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)
_STAGE_COPY_SQL = f"COPY ticks_stage ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
_UPSERT_SQL = (
    f"INSERT INTO ticks ({COLUMNS}) SELECT {COLUMNS} FROM ticks_stage "
    "ON CONFLICT (symbol_id, ts, exchange_id) DO UPDATE SET bid = EXCLUDED.bid, "
    "ask = EXCLUDED.ask, bid_size = EXCLUDED.bid_size, ask_size = EXCLUDED.ask_size, "
    "recv_delta_ms = EXCLUDED.recv_delta_ms"
)
_NAMES = {
    table: (
        f"INSERT INTO {table} (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING",
        f"SELECT name, id FROM {table} WHERE name = ANY(%s)",
    )
    for table in ("symbols", "exchanges")
}
Row = tuple[float, float, float, float | None, float | None, int, int, int]


def tick_rows(
    ticks: Iterable[Tick], symbols: Mapping[str, int], exchanges: Mapping[str, int]
) -> Iterator[Row]:
    """COPY rows; a name without an id raises KeyError while they are written."""
    return (
        (ts, bid, ask, bid_size, ask_size, round((received - ts) * 1000), symbols[s], exchanges[e])
        for e, s, bid, ask, bid_size, ask_size, ts, received in ticks
    )


def write_ticks(conn: psycopg.Connection[Any], rows: Iterator[Row], *, upsert: bool) -> None:
    """Rows into ticks inside the caller's transaction."""
    if upsert:
        conn.execute(_STAGE_SQL)
    with conn.cursor().copy(_STAGE_COPY_SQL if upsert else COPY_SQL) as copy:
        copy.set_types(TYPES)
        # Rows are made as they are written: the server works on what was sent while the
        # rest is converted (the server is the slower side).
        for row in rows:
            copy.write_row(row)
    if upsert:
        conn.execute(_UPSERT_SQL)


def last_per_key(rows: Iterable[Row]) -> list[Row]:
    """One row per (symbol, ts, exchange), the last one: ON CONFLICT DO UPDATE cannot
    touch one row twice in a statement."""
    last: dict[tuple[int, float, int], Row] = {}
    for row in rows:
        last[(row[6], row[0], row[7])] = row
    return list(last.values())


def ensure_names(
    conn: psycopg.Connection[Any], ids: dict[str, int], table: str, names: Iterable[str]
) -> None:
    """`ids` (of "symbols" or "exchanges") completed with `names`, created if new, in a
    short transaction of their own."""
    missing = [n for n in set(names) if n not in ids]
    if not missing:
        return
    insert, select = _NAMES[table]
    with conn.transaction():
        conn.execute(insert, (missing,))
        ids.update(conn.execute(select, (missing,)).fetchall())
