"""Continuity of an exchange's own update ids, where ccxt keeps them in a quote's `info`.

Binance bookTicker `u` and OKX bbo-tbt `seqId` are order-book update ids: they grow with
every change anywhere in the book, so consecutive top-of-book quotes skip ids as a matter
of course (65 % of the steps in the shipped Binance spot capture skip; see
localmarket/data). A skipped id is therefore not a lost quote; what breaks continuity is an
id going back, which happens when the venue restarts its sequence (maintenance, failover)
and means its stream was interrupted there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ccxt exchange id -> the `info` field holding the venue's per-symbol update id.
SEQUENCE_FIELDS: Mapping[str, str] = {
    "binance": "u",
    "binanceusdm": "u",
    "binancecoinm": "u",
    "okx": "seqId",
}


class SequenceCheck:
    """Per symbol, the last update id and its arrival time; `check` names a break."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._last: dict[str, tuple[int, float]] = {}

    @classmethod
    def for_exchange(cls, exchange_id: str) -> SequenceCheck | None:
        field = SEQUENCE_FIELDS.get(exchange_id)
        return None if field is None else cls(field)

    def check(
        self, symbol: str, raw: Mapping[str, Any], received: float
    ) -> tuple[str, float] | None:
        """(reason, arrival time of the symbol's previous quote) when this quote's id goes
        back; None otherwise, or when the quote carries no id."""
        info = raw.get("info")
        value = info.get(self.field) if isinstance(info, Mapping) else None
        if value is None:
            return None
        try:
            current = int(value)
        except (TypeError, ValueError):
            return None
        last = self._last.get(symbol)
        self._last[symbol] = (current, received)
        if last is None or current >= last[0]:
            return None
        return f"sequence gap {symbol}: {self.field} {last[0]} -> {current}", last[1]

    def reset(self) -> None:
        """After a reconnect ids are compared afresh (the outage has its own gap)."""
        self._last.clear()
