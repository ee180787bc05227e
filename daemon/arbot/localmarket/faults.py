"""Fault switches of a fake exchange, settable at runtime (attributes, or the HTTP
control endpoint `/_control/fault?name=...&value=...`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from arbot.localmarket.quotes import Quote

QuoteFault = Literal["crossed", "nan", "negative", "negative_size", "missing"]
QUOTE_FAULTS: tuple[str, ...] = ("crossed", "nan", "negative", "negative_size", "missing")


@dataclass
class Faults:
    """All off by default. `retry_after` (seconds) goes with `ws_reject` and `http_status`."""

    ws_reject: int | None = None  # refuse websocket handshakes with this status (e.g. 503)
    silent: bool = False  # websockets stay open, answer pings, send no data; books stand still
    http_status: int | None = None  # every REST call answers this status (429, 418, 500 ...)
    retry_after: float | None = None
    html: bool = False  # REST answers 200 with an HTML page
    malformed: bool = False  # REST bodies and websocket frames are truncated JSON
    quote: QuoteFault | None = None  # corrupt every quote sent
    timestamp_offset: float = 0.0  # seconds added to sent event times (+ future, - past)
    # Order books. Counts of updates, each used up by one book update of any symbol.
    book_gap: int = 0  # withhold the next n updates from websockets: a sequence gap
    bad_checksum: int = 0  # the next n updates carry a wrong checksum (OKX, Kraken)
    stale_snapshot: int = 0  # REST book snapshots are of the book this many updates ago

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def set(self, name: str, value: str | None) -> None:
        """Set a switch from text (the control endpoint): '' or 'off' turns it off."""
        names = {f.name for f in fields(self)}
        if name not in names:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(names))}, drop")
        off = value is None or value.lower() in ("", "off", "none", "0", "false")
        if name in ("silent", "html", "malformed"):
            setattr(self, name, not off)
        elif name in ("ws_reject", "http_status"):
            setattr(self, name, None if off else int(value))  # type: ignore[arg-type]
        elif name == "retry_after":
            self.retry_after = None if off else float(value)  # type: ignore[arg-type]
        elif name == "timestamp_offset":
            self.timestamp_offset = 0.0 if off else float(value)  # type: ignore[arg-type]
        elif name in ("book_gap", "bad_checksum", "stale_snapshot"):
            setattr(self, name, 0 if off else int(value))  # type: ignore[arg-type]
        elif off:
            self.quote = None
        elif value in QUOTE_FAULTS:
            self.quote = value  # type: ignore[assignment]
        else:
            raise ValueError(f"unknown quote fault {value!r}; known: {', '.join(QUOTE_FAULTS)}")

    def take(self, name: str) -> bool:
        """Use up one of a counted fault (book_gap, bad_checksum): whether it applies now."""
        left: int = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
        return left > 0

    def apply(self, q: Quote) -> Quote:
        if self.timestamp_offset and q.ts is not None:
            q = q._replace(ts=q.ts + self.timestamp_offset)
        if self.quote == "crossed" and q.bid is not None:
            return q._replace(ask=q.bid * 0.99)
        if self.quote == "nan":
            return q._replace(bid=math.nan)
        if self.quote == "negative" and q.bid is not None:
            return q._replace(bid=-q.bid)
        if self.quote == "negative_size":
            return q._replace(bid_size=-1.0)
        if self.quote == "missing":
            return q._replace(bid=None)
        return q
