"""Reads of PostgreSQL's ticks by time for `backtest --from-db` (storage/sqlite/ticks.py's twin):
the same ticks in the same order as from an arbot.db holding them."""

from __future__ import annotations

from collections.abc import Iterator

from arbot.models import Tick
from arbot.settings import PostgresSettings
from arbot.storage.pg.connect import connect
from arbot.storage.pg.schema import check_schema, describe

# Ties ordered by exchange, then symbol, bytewise (COLLATE "C"), as SQLite and Python
# compare text, whatever the database's collation. `received` is the timestamp (a backtest
# runs on the data's clock). The time filter prunes to the range's day partitions.
_IN_TIME_ORDER = """SELECT e.name, s.name, t.bid, t.ask, t.bid_size, t.ask_size, t.ts, t.ts
FROM ticks AS t JOIN symbols AS s ON s.id = t.symbol_id
JOIN exchanges AS e ON e.id = t.exchange_id
WHERE t.ts >= %s AND t.ts < %s
ORDER BY t.ts, e.name COLLATE "C", s.name COLLATE "C"
"""
FETCH_ROWS = 10_000


def tick_range_info(
    settings: PostgresSettings, time_from: float, time_to: float
) -> tuple[list[str], int, str]:
    """Every exchange name of the database, the tick count in [from, to), and the
    database's name for the run's record (PostgreSQL db/schema)."""
    with connect(settings) as conn:
        check_schema(conn)
        where = describe(conn)
        names = [r[0] for r in conn.execute('SELECT name FROM exchanges ORDER BY name COLLATE "C"')]
        row = conn.execute(
            "SELECT count(*) FROM ticks WHERE ts >= %s AND ts < %s", (time_from, time_to)
        ).fetchone()
    return names, int(row[0]) if row else 0, where


def read_ticks(settings: PostgresSettings, time_from: float, time_to: float) -> Iterator[Tick]:
    """Quotes with time_from <= timestamp < time_to in (timestamp, exchange, symbol) order,
    streamed through a server-side cursor. No statement timeout: its first fetch sorts the
    whole range."""
    with connect(settings, statement_timeout=False) as conn:
        check_schema(conn)
        with conn.transaction(), conn.cursor("backtest_ticks") as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(_IN_TIME_ORDER, (time_from, time_to))
            for row in cur:
                yield Tick(*row)
