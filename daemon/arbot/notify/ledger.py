"""What the messages need to remember from the records going by: each open episode's paper
trades (for its closing message) and the day's figures (for the daily summary)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from arbot.models import Episode
from arbot.notify.messages import Paper
from arbot.records import Record, SignalFound, TradeOpened, TradeSettled

# Signals and trades remembered for their episode; the oldest go first (an episode open for
# days while paper trading at full speed is the only way to reach it).
REMEMBERED = 10_000


def _remember(table: dict[int, Any], key: int, value: Any) -> None:
    table[key] = value
    if len(table) > REMEMBERED:
        del table[next(iter(table))]


class Ledger:
    def __init__(self) -> None:
        self._signal_episode: dict[int, str] = {}
        self._trade: dict[int, tuple[str, str]] = {}  # trade id -> (episode, quote currency)
        self._paper: dict[str, Paper] = {}
        self._signals = 0
        self._episodes = 0
        self._trades = 0
        self._pnl: defaultdict[str, float] = defaultdict(float)
        self._up: defaultdict[str, float] = defaultdict(float)  # feed -> seconds up today
        self._down: defaultdict[str, float] = defaultdict(float)

    def note(self, records: Iterable[Record]) -> None:
        for r in records:
            if isinstance(r, SignalFound):
                self._signals += 1
                _remember(self._signal_episode, r.id, r.signal.episode_key)
            elif isinstance(r, TradeOpened):
                episode = self._signal_episode.get(r.params.signal_id or -1)
                quote = r.params.symbol.partition("/")[2].partition(":")[0]
                _remember(self._trade, r.id, (episode or "", quote))
                if episode is not None:
                    p = self._paper.get(episode, Paper())
                    self._paper[episode] = Paper(p.trades + 1, p.completed, p.profit, p.pending + 1)
            elif isinstance(r, TradeSettled):
                self._settled(r)

    def _settled(self, r: TradeSettled) -> None:
        episode, quote = self._trade.pop(r.id, ("", ""))
        profit = r.data.actual_profit or 0.0
        filled = r.data.status == "completed"
        self._trades += 1
        if filled:
            self._pnl[quote or "quote"] += profit
        if episode in self._paper:
            p = self._paper[episode]
            self._paper[episode] = Paper(
                p.trades, p.completed + filled, p.profit + profit * filled, p.pending - 1
            )

    def closed(self, ep: Episode) -> Paper | None:
        """The episode's paper trades so far; it is counted in the day's episodes."""
        self._episodes += 1
        return self._paper.pop(ep.key, None)

    def feeds(self, up: Iterable[str], down: Iterable[str], seconds: float) -> None:
        for name in up:
            self._up[name] += seconds
        for name in down:
            self._down[name] += seconds

    def close_day(self) -> dict[str, Any]:
        """The day's figures; the next day starts from zero."""
        names = set(self._up) | set(self._down)
        uptime = {
            n: 100 * self._up[n] / (self._up[n] + self._down[n])
            for n in names
            if self._up[n] + self._down[n] > 0
        }
        facts = {
            "signals": self._signals,
            "episodes": self._episodes,
            "paper_trades": self._trades,
            "paper_profit": dict(self._pnl),
            "uptime_percent": uptime,
        }
        self._signals = self._episodes = self._trades = 0
        self._pnl.clear()
        self._up.clear()
        self._down.clear()
        return facts
