"""What a person reads at a glance, and the same facts as JSON for webhooks.

Each event becomes one Message: a short title, a few lines of plain text, and `data` (an
opportunity's are the fields of `arbot query signals --json`, plus the signal's id and
episode). A target with a JSON body gets `{"event", "title", "text", ...data}` as the message."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arbot.models import Episode, Signal
from arbot.notify.adapter import Level


@dataclass(frozen=True, slots=True)
class Message:
    event: str  # a NotifyEvent, or "test" / "more" (a fold)
    title: str
    text: str
    level: Level
    at: float  # when it was made (wall clock)
    data: dict[str, Any] = field(default_factory=dict)

    def body(self, as_json: bool) -> str:
        if not as_json:
            return self.text
        return json.dumps(
            {"event": self.event, "title": self.title, "text": self.text, **self.data}
        )


@dataclass(frozen=True, slots=True)
class Paper:
    """Paper trades of one episode settled by the time it closed."""

    trades: int = 0
    completed: int = 0
    profit: float = 0.0
    pending: int = 0


def clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%SZ")


def duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `2 h 10 min`."""
    s = round(max(seconds, 0.0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _quote(symbol: str) -> str:
    """BTC/USDT -> USDT; BTC/USDT:USDT -> USDT."""
    return symbol.partition("/")[2].partition(":")[0] or "quote"


def _price(value: float) -> str:
    """As the exchange sent it: every digit, never in e-notation."""
    return format(Decimal(repr(value)), "f")


def _amount(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"


def signal_fields(signal: Signal) -> dict[str, Any]:
    """The fields of a row of `arbot query signals --json`: the signal's own (and whatever
    it carries besides, as plain JSON values), not yet executed."""
    data = asdict(signal)
    del data["episode_key"]
    return data | {"executed": False}


def opportunity(signal_id: int, s: Signal, now: float) -> Message:
    quote, base = _quote(s.symbol), s.symbol.partition("/")[0]
    notional = s.buy_size * s.buy_price
    text = (
        f"{s.symbol}: buy {s.buy_exchange} at {_price(s.buy_price)}, sell {s.sell_exchange} "
        f"at {_price(s.sell_price)}\n"
        f"net {s.profit_percent:.3f} %: {_amount(s.profit)} {quote} on {s.buy_size:g} {base} "
        f"(~{_amount(notional)} {quote})\n"
        f"confidence {s.confidence:.2f}, {s.trend_direction}; seen {clock_time(s.timestamp)}"
    )
    title = f"{s.symbol} +{s.profit_percent:.2f} %: buy {s.buy_exchange}, sell {s.sell_exchange}"
    data = {"id": signal_id, "episode_key": s.episode_key, **signal_fields(s)}
    return Message("opportunity", title, text, "info", now, data)


def episode_closed(ep: Episode, paper: Paper | None, now: float) -> Message:
    took = duration(ep.closed_at - ep.opened_at)
    text = (
        f"{ep.symbol}: buy {ep.buy_exchange} / sell {ep.sell_exchange} open "
        f"{clock_time(ep.opened_at)}-{clock_time(ep.closed_at)} ({took}), peak net "
        f"{ep.peak_profit_percent:.3f} %, {ep.signals} signals; {ep.close_reason}"
    )
    data: dict[str, Any] = {
        "episode_key": ep.key,
        "symbol": ep.symbol,
        "buy_exchange": ep.buy_exchange,
        "sell_exchange": ep.sell_exchange,
        "opened_at": ep.opened_at,
        "closed_at": ep.closed_at,
        "peak_profit_percent": ep.peak_profit_percent,
        "signals": ep.signals,
        "close_reason": ep.close_reason,
        "paper": None,
    }
    if paper is not None and paper.trades:
        text += (
            f"\npaper: {paper.trades} trades, {paper.completed} filled, "
            f"{paper.profit:+.4f} {_quote(ep.symbol)}"
            + (f", {paper.pending} still open" if paper.pending else "")
        )
        data["paper"] = {
            "trades": paper.trades,
            "completed": paper.completed,
            "profit": paper.profit,
            "pending": paper.pending,
        }
    title = f"{ep.symbol} closed after {took}, peak {ep.peak_profit_percent:.2f} %"
    return Message("episode_closed", title, text, "info", now, data)


def feed_down(exchange: str, since: float, why: str | None, now: float) -> Message:
    text = f"{exchange}: no data since {clock_time(since)} ({duration(now - since)})"
    text += f": {why}" if why else ""
    data = {"exchange": exchange, "since": since, "reason": why}
    return Message("feed_down", f"{exchange} feed down", text, "warning", now, data)


def feed_up(exchange: str, since: float, now: float) -> Message:
    text = f"{exchange}: data flows again after {duration(now - since)} down"
    data = {"exchange": exchange, "since": since, "until": now}
    return Message("feed_up", f"{exchange} feed back", text, "success", now, data)


def storage_trouble(seconds: float, error: str, now: float) -> Message:
    text = f"storage not committing for {duration(seconds)}, retrying ({error})"
    data = {"state": "retrying", "seconds": round(seconds, 1), "error": error}
    return Message("storage", "storage not committing", text, "failure", now, data)


def storage_ok(seconds: float, now: float) -> Message:
    text = f"storage committing again after {duration(seconds)}"
    data = {"state": "ok", "seconds": round(seconds, 1), "error": None}
    return Message("storage", "storage recovered", text, "success", now, data)


def daily_summary(day: str, facts: Mapping[str, Any], now: float) -> Message:
    pnl = facts["paper_profit"]
    uptime = facts["uptime_percent"]
    text = "\n".join(
        [
            f"signals {facts['signals']}, episodes closed {facts['episodes']}",
            "paper P&L "
            + (", ".join(f"{v:+.4f} {q}" for q, v in sorted(pnl.items())) or "none")
            + f" ({facts['paper_trades']} trades)",
            "feeds up " + (", ".join(f"{n} {p:.1f} %" for n, p in sorted(uptime.items())) or "-"),
        ]
    )
    data = {"day": day, **facts}
    return Message("daily_summary", f"ArBot {day} (UTC)", text, "info", now, data)


def folded(counts: Counter[str], since: float, now: float, limit: int) -> Message:
    n = sum(counts.values())
    when = "in the last minute" if now - since <= 60 else f"since {clock_time(since)}"
    kinds = ", ".join(f"{c} {e}" for e, c in counts.most_common())
    text = f"{n} more {when} ({kinds}); at most {limit} messages a minute are sent"
    data = {"count": n, "events": dict(counts), "since": since}
    return Message("more", f"{n} more {when}", text, "info", now, data)


def test(target: str, host: str, events: tuple[str, ...], now: float) -> Message:
    text = f"ArBot on {host}: target {target!r} works; it is told: {', '.join(events) or '-'}"
    data = {"target": target, "host": host}
    return Message("test", "ArBot test message", text, "info", now, data)
