"""The engine, sans-IO: queue items and a clock reading in, ticks to store and records out.

One engine serves the daemon, `arbot replay` and `arbot backtest`; they differ only in the
source of the items, the clock and the sink. Per call to `process`:

* Ticks are grouped into instants: a run of consecutive ticks with the same exchange
  timestamp is one instant (a replay file's rows of one second; a `fetch_tickers` batch).
  An order book (depth > 0) belongs to the instant of its timestamp like a tick (the feed
  puts it right after the top-of-book tick of the same change); a book of another
  timestamp starts an instant of its own. Every quote and book of an instant is applied
  before the detector evaluates, in (book, exchange) order, so the result does not depend
  on the order of rows within a timestamp. A group at the end of a call stays open when
  the caller says more may follow (`complete=False`), so a group cut by a chunk boundary
  is still one instant.
* `now` is the caller's clock or, when None, the data's clock: the latest receive time seen.
  Staleness, fill waits and sweeps use it, so a replay is a pure function of (input,
  settings). The daemon too runs its ticks on the data's clock (its wall clock only moves
  time on while no tick comes), so a backtest of what it stored makes the same trades.
* Per instant: the paper executor sees the ticks and books (fills of earlier trades), the
  detector evaluates, each signal gets its id and goes to the paper executor, and the ticks
  pass the storage filter (conflation, skip-unchanged) and the millisecond separator.
* Every SWEEP_INTERVAL of engine time episodes whose legs went stale are closed, also when
  their symbol gets no ticks (`advance`, called by the daemon when idle).
"""

# Hot path: a plain `if` costs less than a call to max().
# ruff: noqa: PLR1730

from __future__ import annotations

from collections.abc import Iterable, Mapping

from arbot.conflation import TickFilter, TimestampSeparator
from arbot.detector import Detector
from arbot.models import Book, Episode, ExchangeParams, FeedDown, FeedGap, QueueItem, Signal, Tick
from arbot.paper import PaperExecutor
from arbot.records import EpisodesOpen, Output, Record, Resume, SignalFound
from arbot.settings import Settings

SWEEP_INTERVAL = 1.0  # seconds of engine time between stale-episode sweeps


class Engine:
    def __init__(
        self,
        settings: Settings,
        params: Mapping[str, ExchangeParams],
        resume: Resume,
        *,
        paper: bool,
        detect: bool = True,
    ) -> None:
        s = settings
        self.params = params  # the exchanges' fees and limits, for what reports on signals
        self._records: list[Record] = []
        self.detector = Detector(s.detector, params) if detect else None
        self.paper = (
            PaperExecutor(
                s.paper,
                params,
                self._records.append,
                s.detector.quote_groups,
                first_trade_id=resume.first_ids.get("trades", 1),
                resumed=resume.balances,
            )
            if paper and self.detector is not None
            else None
        )
        self._resume = resume.episodes
        self._next_signal_id = resume.first_ids.get("arbitrage_signals", 1)
        self._filter = TickFilter(s.storage.conflate_ms, s.storage.skip_unchanged)
        self._keep = self._filter.keep if self._filter.active else None
        self._separator = TimestampSeparator()
        self._separate = self._separator.stored_form
        self._group: list[Tick] = []
        self._group_books: list[Book] = []  # the order books of the open instant
        self._now = float("-inf")
        self._next_sweep: float | None = None
        self.accepted = 0
        self.books = 0  # order books seen (depth > 0)
        self.signals = 0
        self.episodes = 0

    @property
    def skipped(self) -> tuple[int, int]:
        """Accepted ticks not stored: (conflated, unchanged)."""
        return self._filter.conflated, self._filter.unchanged

    @property
    def now(self) -> float:
        return self._now

    def process(
        self, items: Iterable[QueueItem], now: float | None = None, *, complete: bool = True
    ) -> Output:
        """Run `items` through; with complete=False a trailing same-timestamp group waits for
        the next call (or `advance`/`finish`)."""
        if self.detector is None:
            return self._store_only(items, now)
        out = Output()
        group, books = self._group, self._group_books
        group_ts = group[0][6] if group else books[0][4] if books else None
        accepted = 0
        for item in items:
            if type(item) is Tick:
                accepted += 1
                if item[6] != group_ts:
                    if group or books:
                        self._instant(group, now, out, books)
                        group = self._group = []
                    group_ts = item[6]
                group.append(item)
                continue
            if type(item) is Book:
                self.books += 1
                out.books.append(item)
                if item[4] != group_ts:
                    if group or books:
                        self._instant(group, now, out, books)
                        group = self._group = []
                    group_ts = item[4]
                books.append(item)
                continue
            if group or books:
                self._instant(group, now, out, books)
                group = self._group = []
                group_ts = None
            if isinstance(item, FeedDown):
                at = self._clock(now, item.since)
                if self.detector is not None:
                    self._episodes(self.detector.on_feed_down(item.exchange, at))
            elif isinstance(item, FeedGap):
                self._records.append(item)
        self.accepted += accepted
        if complete:
            self._flush(now, out)
        self._drain(out)
        return out

    def _store_only(self, items: Iterable[QueueItem], now: float | None) -> Output:
        """With detection off (a recorder) instants change nothing: each tick only passes
        the storage filter and the separator, without the per-instant bookkeeping."""
        out = Output()
        stored, separate, keep = out.ticks, self._separate, self._keep
        accepted = 0
        latest = self._now
        for item in items:
            if type(item) is Tick:
                accepted += 1
                if item[7] > latest:
                    latest = item[7]
                if keep is None or keep(item):
                    stored.append(separate(item))
            elif type(item) is Book:
                self.books += 1
                out.books.append(item)
            elif isinstance(item, FeedGap):
                self._records.append(item)
        self.accepted += accepted
        self._clock(now, latest)
        self._drain(out)
        return out

    def advance(self, now: float) -> Output:
        """Time passed without ticks: evaluate a waiting group, sweep stale episodes, let
        pending paper trades time out."""
        out = Output()
        self._flush(now, out)
        now = self._clock(now, now)
        if self._next_sweep is None or now >= self._next_sweep:
            self._sweep(now)
        if self.paper is not None:
            self.paper.on_time(now)
        self._drain(out)
        return out

    def finish(self, now: float | None, reason: str, *, keep_open: bool) -> Output:
        """The run ends: evaluate what waits, then either keep open episodes for the next run
        (`keep_open`, the daemon) or close them with `reason` (end of a replay's input);
        pending paper trades fail as stale."""
        out = Output()
        self._flush(now, out)
        at = self._clock(now, self._now)
        if self.detector is not None:
            if keep_open:
                self._records.append(EpisodesOpen(tuple(self.detector.open_state())))
            else:
                self._episodes(self.detector.close_all(at, reason))
                self._records.append(EpisodesOpen(()))
        if self.paper is not None:
            self.paper.expire_all(at, reason)
        self._drain(out)
        return out

    def reconfigure(self, settings: Settings, params: Mapping[str, ExchangeParams]) -> None:
        """Apply new detector thresholds, exchange parameters and paper settings while
        running; episodes closed by it go out with the next output."""
        self.params = params
        if self.detector is not None:
            self._episodes(self.detector.reconfigure(settings.detector, params, self._now))
        if self.paper is not None:
            self.paper.reconfigure(settings.paper, params)

    def _clock(self, now: float | None, data_time: float) -> float:
        t = data_time if now is None else now
        self._now = max(self._now, t)
        return self._now

    def _flush(self, now: float | None, out: Output) -> None:
        """Evaluate the instant waiting for more of its rows, if any."""
        if self._group or self._group_books:
            self._instant(self._group, now, out, self._group_books)
            self._group = []

    def _instant(
        self, group: list[Tick], now: float | None, out: Output, books: list[Book]
    ) -> None:
        """Evaluate one instant; `books` is emptied (the list stays the engine's)."""
        single = len(group) == 1
        if now is None:
            if books:
                now = max([t.received for t in group] + [b.received for b in books])
            else:
                now = group[0][7] if single else max(t[7] for t in group)
        if now > self._now:
            self._now = now
        at = self._now
        if self._next_sweep is None or at >= self._next_sweep:
            self._sweep(at)
        detector, paper = self.detector, self.paper
        if paper is not None:
            # Stable (exchange, symbol) order: a quote's fills do not depend on the order
            # of other keys' rows; rows of one key keep theirs.
            paper.on_instant(group if single else sorted(group, key=_key), at, books)
        if detector is not None:
            if books:
                found = detector.on_instant(group, at, books)
                books.clear()
            elif single:
                found = detector.on_tick(group[0], at)
            else:
                found = detector.on_instant(group, at)
            for o in found:
                if isinstance(o, Signal):
                    self._signal(o, at)
                else:
                    self._episodes((o,))
        separate, keep = self._separate, self._keep
        if keep is None:
            if single:
                out.ticks.append(separate(group[0]))
            else:
                out.ticks.extend(map(separate, group))
        else:
            out.ticks.extend(separate(t) for t in group if keep(t))

    def _signal(self, signal: Signal, now: float) -> None:
        signal_id = self._next_signal_id
        self._next_signal_id += 1
        self.signals += 1
        self._records.append(SignalFound(signal_id, signal))
        if self.paper is not None:
            self.paper.on_signal(signal_id, signal, now)

    def _episodes(self, episodes: Iterable[Episode]) -> None:
        for ep in episodes:
            self.episodes += 1
            self._records.append(ep)

    def _sweep(self, now: float) -> None:
        """Resume what the last run left (first call), else close stale episodes if due."""
        detector = self.detector
        if self._next_sweep is None:
            if detector is not None and self._resume:
                self._episodes(detector.resume(self._resume, now))
                self._records.append(EpisodesOpen(()))  # resumed: no longer left open
            self._resume = ()
        elif detector is not None and now >= self._next_sweep:
            self._episodes(detector.sweep(now))
        else:
            return
        self._next_sweep = now + SWEEP_INTERVAL

    def _drain(self, out: Output) -> None:
        if self._records:
            out.records.extend(self._records)
            self._records.clear()


def _key(tick: Tick) -> tuple[str, str]:
    return (tick[0], tick[1])
