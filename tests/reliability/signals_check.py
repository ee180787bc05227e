"""Every recorded arbitrage signal must rest on two valid, fresh, stored quotes: its buy
price is the ask and its sell price the bid of ticks received at most max_quote_age before
the signal, with exchange timestamps at most max_leg_skew apart.

Prices are read decoded (tick_values): the raw columns of `ticks` hold INTEGER 1e-8 counts.
A leg whose exact price is not among the stored ticks is checked on the fresh ticks of its
venue (freshness and skew still hold) and counted as unverified instead of failing."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.datadir import open_ro

LEG_SQL = (
    "SELECT t.ts, t.ts + coalesce(t.recv_delta_ms, 0) / 1000.0"
    " FROM tick_values t JOIN symbols s ON s.id = t.symbol_id"
    " JOIN exchanges e ON e.id = t.exchange_id"
    " WHERE s.name = ? AND e.name = ? AND t.ts BETWEEN ? AND ?"
)
# Candidate ticks are searched this far around the signal (past offsets up to 10 min).
WINDOW = 900.0
# recv_delta_ms is stored rounded to the millisecond.
SLACK = 0.002


@dataclass
class SignalCheck:
    checked: int = 0
    unverified_legs: int = 0
    bad: list[str] = field(default_factory=list)


def _fresh_legs(
    conn: sqlite3.Connection, leg: tuple[str, str, str, float], now: float, max_age: float
) -> tuple[list[float], bool]:
    """Exchange timestamps of fresh ticks of leg (symbol, exchange, side, price) at its
    price (verified), else of any fresh tick of its venue (unverified)."""
    symbol, exchange, side, price = leg
    window = (symbol, exchange, now - WINDOW, now + WINDOW)
    exact = conn.execute(f"{LEG_SQL} AND t.{side} = ?", (*window, price)).fetchall()
    ok = [ts for ts, rec in exact if now - max_age - SLACK <= rec <= now + SLACK]
    if ok:
        return ok, True
    anyp = conn.execute(LEG_SQL, window).fetchall()
    return [ts for ts, rec in anyp if now - max_age - SLACK <= rec <= now + SLACK], False


def check_signals(db: Path, max_quote_age: float, max_leg_skew: float) -> SignalCheck:
    out = SignalCheck()
    conn = open_ro(db)
    try:
        signals = conn.execute(
            "SELECT id, symbol, buy_exchange, sell_exchange, buy_price, sell_price, timestamp"
            " FROM arbitrage_signals"
        ).fetchall()
        for sid, symbol, buy_ex, sell_ex, buy_price, sell_price, now in signals:
            buys, buy_ok = _fresh_legs(conn, (symbol, buy_ex, "ask", buy_price), now, max_quote_age)
            sells, sell_ok = _fresh_legs(
                conn, (symbol, sell_ex, "bid", sell_price), now, max_quote_age
            )
            out.unverified_legs += (not buy_ok) + (not sell_ok)
            if not buys or not sells:
                out.bad.append(f"signal {sid}: no fresh stored quote ({buy_ex}->{sell_ex})")
            elif not any(abs(b - s) <= max_leg_skew + SLACK for b in buys for s in sells):
                out.bad.append(f"signal {sid}: legs {buy_ex}/{sell_ex} skewed > {max_leg_skew} s")
        out.checked = len(signals)
    finally:
        conn.close()
    return out
