"""Column values of the engine's records, in the order both backends' SQL lists them
(storage/sqlite/signals.py, trades.py and records_sql.py; storage/pg/records_sql.py)."""

from __future__ import annotations

import json

from arbot.models import Episode, ExecutionData, Signal, TradeParams, iso_utc
from arbot.records import OpenEpisodeState


def signal_row(signal_id: int | None, s: Signal) -> tuple[object, ...]:
    return (
        signal_id,
        s.symbol,
        s.buy_exchange,
        s.sell_exchange,
        s.buy_price,
        s.sell_price,
        s.profit,
        s.profit_percent,
        s.buy_size,
        s.sell_size,
        s.confidence,
        s.trend_direction,
        s.timestamp,
        iso_utc(s.timestamp),
    )


def book_trade_row(signal_id: int, s: Signal) -> tuple[object, ...] | None:
    """The signal's trade through order books (signal_book_trades); None for a signal at
    the top of book."""
    t = s.book_trade
    if t is None:
        return None
    edges = json.dumps(t.size_edges, separators=(",", ":")) if t.size_edges else None
    return (signal_id, t.quantity, t.buy_vwap, t.sell_vwap, edges)


def episode_row(e: Episode) -> tuple[object, ...]:
    return (
        e.key,
        e.symbol,
        e.buy_exchange,
        e.sell_exchange,
        e.opened_at,
        e.closed_at,
        e.peak_profit_percent,
        e.updates,
        e.signals,
        e.close_reason,
        iso_utc(e.closed_at),
        e.peak_profit,
    )


def trade_row(trade_id: int | None, p: TradeParams) -> tuple[object, ...]:
    return (
        trade_id,
        p.signal_id,
        p.symbol,
        p.buy_exchange,
        p.sell_exchange,
        p.planned_buy_price,
        p.planned_sell_price,
        p.quantity,
        p.planned_profit,
        p.started_at,
    )


def execution_row(trade_id: int, d: ExecutionData) -> tuple[object, ...]:
    return (
        d.buy_order_id,
        d.sell_order_id,
        d.actual_buy_price,
        d.actual_sell_price,
        d.actual_profit,
        d.fees_paid,
        d.slippage,
        d.status,
        d.error_message,
        d.quantity,
        d.completed_at,
        trade_id,
    )


def open_episode_row(st: OpenEpisodeState) -> tuple[object, ...]:
    return (
        st.key,
        st.symbol,
        st.buy_exchange,
        st.buy_symbol,
        st.sell_exchange,
        st.sell_symbol,
        st.opened_at,
        st.peak_profit_percent,
        st.updates,
        st.signals,
        st.last_signal_percent,
        st.last_signal_at,
        st.peak_profit,
    )
