"""What one target is told: its events and filters, one opportunity message per episode,
and a feed outage only once it has lasted `feed_down_after`."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from arbot.models import Episode, Signal
from arbot.notify import messages
from arbot.notify.messages import Message
from arbot.settings import NotifyTarget

# exchange -> (down since, why)
Outages = Mapping[str, tuple[float, str | None]]


class Route:
    def __init__(self, settings: NotifyTarget) -> None:
        self._announced: set[str] = set()  # episodes whose opening this target was told
        self._told_down: dict[str, float] = {}  # exchange -> since, told as down
        self.configure(settings)

    def configure(self, settings: NotifyTarget) -> None:
        self.settings = settings
        self._events = set(settings.events)
        self._symbols = set(settings.symbols)
        self._exchanges = set(settings.exchanges)

    def wants(self, event: str) -> bool:
        return event in self._events

    def _market(self, symbol: str, buy: str, sell: str) -> bool:
        if self._symbols and symbol not in self._symbols:
            return False
        return not self._exchanges or {buy, sell} <= self._exchanges

    def opportunity(self, s: Signal) -> bool:
        """The first signal of an episode that passes the filters (a later, better signal
        of an episode whose first was below this target's threshold still opens it)."""
        if not self.wants("opportunity") or s.episode_key in self._announced:
            return False
        cfg = self.settings
        if s.profit_percent < cfg.min_profit_percent or s.profit < cfg.min_profit_quote:
            return False
        if not self._market(s.symbol, s.buy_exchange, s.sell_exchange):
            return False
        self._announced.add(s.episode_key)
        return True

    def closed(self, ep: Episode) -> bool:
        """A closed episode is told where its opening was, or, to a target that is not told
        openings, when it passes the filters by its peak."""
        announced = ep.key in self._announced
        self._announced.discard(ep.key)
        if not self.wants("episode_closed"):
            return False
        if self.wants("opportunity"):
            return announced
        return ep.peak_profit_percent >= self.settings.min_profit_percent and self._market(
            ep.symbol, ep.buy_exchange, ep.sell_exchange
        )

    def feeds(self, down: Outages, known: Collection[str], now: float) -> list[Message]:
        """Feed outages that have lasted long enough, and the end of those told (a feed
        a reload removed is forgotten, not told up)."""
        out: list[Message] = []
        after = self.settings.feed_down_after
        for exchange, (since, why) in down.items():
            if exchange in self._told_down or now - since < after:
                continue
            if self._exchanges and exchange not in self._exchanges:
                continue
            self._told_down[exchange] = since
            if self.wants("feed_down"):
                out.append(messages.feed_down(exchange, since, why, now))
        for exchange in [e for e in self._told_down if e not in down]:
            since = self._told_down.pop(exchange)
            if self.wants("feed_up") and exchange in known:
                out.append(messages.feed_up(exchange, since, now))
        return out
