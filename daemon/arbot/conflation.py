"""Which accepted ticks get stored: optional conflation and skip-unchanged, per
(exchange, symbol). The detector sees every tick regardless; this only thins the history.

* conflate_ms > 0: a tick is stored only if its exchange timestamp is at least conflate_ms
  after the last STORED tick of its key (leading edge: the first tick of a quiet spell is
  stored at once, a burst is sampled). The history becomes a sampling, at most 1000 /
  conflate_ms rows per key per second.
* skip_unchanged: a tick whose bid, ask, bid_size and ask_size equal the last stored tick of
  its key is not stored. Read the stored series as a step function: a price holds until the
  next row (feed_gaps says where the feed was down instead).
"""

from __future__ import annotations

from arbot.models import Tick


class TickFilter:
    def __init__(self, conflate_ms: int, skip_unchanged: bool) -> None:
        self._window = conflate_ms / 1000
        self._skip_unchanged = skip_unchanged
        self._last: dict[tuple[str, str], Tick] = {}
        self.conflated = 0
        self.unchanged = 0

    @property
    def active(self) -> bool:
        return self._window > 0 or self._skip_unchanged

    def keep(self, tick: Tick) -> bool:
        """True if `tick` is to be stored (and becomes its key's last stored tick)."""
        key = (tick[0], tick[1])
        last = self._last.get(key)
        if last is not None:
            # Tick fields 2..5: bid, ask, bid_size, ask_size; 6: timestamp.
            if self._skip_unchanged and last[2:6] == tick[2:6]:
                self.unchanged += 1
                return False
            if self._window > 0 and tick[6] - last[6] < self._window:
                self.conflated += 1
                return False
        self._last[key] = tick
        return True


# Exchanges stamping in milliseconds (OKX, Binance futures) send several different quotes of
# one symbol within one millisecond; under UNIQUE(symbol, exchange, timestamp) the last would
# replace the others. 1 µs is below every exchange's resolution and above a double's
# resolution at today's UNIX times (~0.24 µs), so such rows stay distinct and in order.
SEPARATION = 1e-6


class TimestampSeparator:
    """Keeps every differing quote: a tick repeating its key's last exchange timestamp with
    other prices or sizes is stored 1 µs after the previous one of that timestamp. An
    identical repeat keeps the previous stored timestamp, so a resent quote still replaces
    itself (the key's dedup semantics hold)."""

    def __init__(self) -> None:
        # key -> (last tick as received, the timestamp it was stored under)
        self._last: dict[tuple[str, str], tuple[Tick, float]] = {}

    def stored_form(self, tick: Tick) -> Tick:
        key = (tick[0], tick[1])
        last = self._last.get(key)
        # Tick fields 2..5: bid, ask, bid_size, ask_size; 6: timestamp.
        if last is None or last[0][6] != tick[6]:
            self._last[key] = (tick, tick[6])
            return tick
        previous, stored = last
        if previous[2:6] != tick[2:6]:
            stored += SEPARATION
        self._last[key] = (tick, stored)
        return tick._replace(timestamp=stored) if stored != tick[6] else tick
