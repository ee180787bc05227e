"""Analysis queries (`arbot query ...`), written once for both backends: each backend gives
its SQL (storage/sqlite/queries.py, storage/pg/queries.py); parameters and results (plain
dicts and lists of the same Python types) are handled here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from arbot.storage.portable import Conn

Table = Literal["symbols", "exchanges"]

NAMES: Mapping[Table, str] = {
    "symbols": "SELECT name FROM symbols ORDER BY name",
    "exchanges": "SELECT name FROM exchanges ORDER BY name",
}


@dataclass(frozen=True, slots=True)
class QuerySQL:
    """One backend's statements, with named parameters in its driver's style."""

    price_history_asc: str
    price_history_desc: str
    signals: str
    statistics: str  # one positional parameter: the start of the period
    spreads_all: str
    spreads_symbol: str
    daily_performance: str  # :now (epoch s), :days


class Queries:
    """The queries over one connection to arbot.db's tables."""

    def __init__(self, conn: Conn, sql: QuerySQL) -> None:
        self.conn = conn
        self._sql = sql

    def _dicts(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def price_history(
        self,
        symbol: str,
        exchange: str,
        *,
        start: float,
        end: float,
        limit: int = 100_000,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Quotes of one (symbol, exchange) with start <= timestamp <= end, oldest first
        unless `newest_first`."""
        sql = self._sql.price_history_desc if newest_first else self._sql.price_history_asc
        params = {"symbol": symbol, "exchange": exchange, "start": start, "end": end}
        return self._dicts(sql, params | {"limit": limit})

    def known_names(self, table: Table) -> list[str]:
        """Every symbol or exchange name arbot.db has stored data for."""
        return [str(row[0]) for row in self.conn.execute(NAMES[table]).fetchall()]

    def list_signals(
        self,
        since: float,
        *,
        symbol: str | None = None,
        exchange: str | None = None,
        min_profit_percent: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Signals newer than `since`, newest first; `exchange` matches either leg. A signal
        found through order books has its executable trade (quantity, buy_vwap, sell_vwap,
        size_edges: [{notional, edge_percent}, ...]); None elsewhere."""
        params = {
            "since": since,
            "symbol": symbol,
            "exchange": exchange,
            "min_profit": min_profit_percent,
            "limit": limit,
        }
        rows = self._dicts(self._sql.signals, params)
        for row in rows:
            row["executed"] = bool(row["executed"])  # SQLite stores 0/1
            edges = row["size_edges"]
            if edges is not None:
                row["size_edges"] = [
                    {"notional": n, "edge_percent": e} for n, e in json.loads(edges)
                ]
        return rows

    def spread_analysis(
        self, since: float, symbol: str | None = None, min_samples: int = 100
    ) -> list[dict[str, Any]]:
        """Spread statistics per (symbol, exchange) over quotes newer than `since`; pairs
        with fewer than `min_samples` valid quotes are left out."""
        # Two constant statements: a filter on symbol uses the (symbol_id, ts) key.
        sql = self._sql.spreads_symbol if symbol else self._sql.spreads_all
        params = {"since": since, "min_samples": min_samples, "symbol": symbol}
        return self._dicts(sql, params)

    def signal_stats(self, period_hours: float, now: float) -> dict[str, Any]:
        """The spec's get_signal_statistics over signals newer than `period_hours` before
        `now`."""
        row = self.conn.execute(self._sql.statistics, (now - period_hours * 3600,)).fetchone()
        total, executed, avg_pct, max_pct, avg_conf = row or (0, 0, None, None, None)
        return {
            "total_signals": int(total),
            "executed_signals": int(executed or 0),
            "execution_rate": executed / total if total else 0,
            "avg_profit_percent": avg_pct,
            "max_profit_percent": max_pct,
            "avg_confidence": avg_conf,
        }

    def daily_performance(self, days: int, now: float) -> list[dict[str, Any]]:
        """Completed trades per UTC day over the last `days` days, with the cumulative
        profit."""
        rows = self._dicts(self._sql.daily_performance, {"now": now, "days": int(days)})
        for row in rows:
            row["trade_date"] = str(row["trade_date"])
        return rows
