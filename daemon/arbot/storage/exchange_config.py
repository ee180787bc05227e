"""exchange_config in config.db: synchronised from the TOML at start-up, read by the detector."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple

from arbot.models import ExchangeParams
from arbot.settings import ExchangeSettings
from arbot.storage.transaction import immediate
from arbot.venues import params_of


def sync(conn: sqlite3.Connection, exchanges: tuple[ExchangeSettings, ...]) -> None:
    """Make exchange_config mirror the TOML: upsert configured exchanges, disable the rest."""
    rows = [astuple(params_of(e)) for e in exchanges]
    with immediate(conn):
        conn.executemany(
            """INSERT INTO exchange_config (exchange, enabled, arbitrage_enabled, region,
                   premium_baseline, maker_fee, taker_fee, min_trade_amount, max_trade_amount)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(exchange) DO UPDATE SET
                   enabled = excluded.enabled, arbitrage_enabled = excluded.arbitrage_enabled,
                   region = excluded.region, premium_baseline = excluded.premium_baseline,
                   maker_fee = excluded.maker_fee, taker_fee = excluded.taker_fee,
                   min_trade_amount = excluded.min_trade_amount,
                   max_trade_amount = excluded.max_trade_amount,
                   updated_at = CURRENT_TIMESTAMP""",
            rows,
        )
        names = [e.name for e in exchanges]
        # An empty list stays empty: `NOT IN ()` is true in SQLite, `NOT IN (NULL)` never is.
        placeholders = ",".join("?" * len(names))
        conn.execute(
            f"UPDATE exchange_config SET enabled = FALSE, updated_at = CURRENT_TIMESTAMP "
            f"WHERE enabled AND exchange NOT IN ({placeholders})",
            names,
        )


def load(conn: sqlite3.Connection) -> dict[str, ExchangeParams]:
    rows = conn.execute(
        """SELECT exchange, enabled, arbitrage_enabled, region, premium_baseline, maker_fee,
                  taker_fee, min_trade_amount, max_trade_amount FROM exchange_config"""
    ).fetchall()
    return {
        r[0]: ExchangeParams(
            r[0],
            bool(r[1]),
            bool(r[2]),
            r[3],
            float(r[4] or 0),
            float(r[5]),
            float(r[6]),
            float(r[7]),
            float(r[8]),
        )
        for r in rows
    }
