"""Replay recorded quotes through the detector and the writer, on the file's own clock.

Input: the quote CSV of arbot.quotes_csv (a quote of unknown depth is never a leg), rows in
time order. The file is checked whole before anything runs; the first bad row stops the
replay with its line number.

Each tick is delivered with now = received = its ts, so staleness is measured in market
time and a replay is a pure function of (file, settings): the same signals every time.
Episodes still open at the end close with reason "end_of_input". Ticks (thinned by the
configured conflation, as in the daemon), signals and episodes go through the same Writer
and storage ops as the daemon; with store=False only the detector runs.

Exchange parameters: the config's exchanges when it has any (exchanges only in the file
are then ignored); otherwise every exchange seen in the file, with zero fees, no premium
baseline and the default trade limits (10 to 10,000 in quote currency).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from arbot import quotes_csv
from arbot.conflation import TickFilter
from arbot.detector import Detector
from arbot.errors import EXIT_USAGE, ArbotError
from arbot.metrics import Metrics
from arbot.models import Episode, Signal, Tick
from arbot.settings import ExchangeSettings, Settings
from arbot.storage import signals as signal_ops
from arbot.storage.exchange_config import ExchangeParams, params_from_settings
from arbot.storage.schema import make_data_dir
from arbot.storage.writer import Writer, op_calling

END_REASON = "end_of_input"


class ReplayInputError(ArbotError):
    """The replay file is unreadable or malformed; the message names file and line."""

    exit_code = EXIT_USAGE


@dataclass(slots=True)
class ReplaySummary:
    ticks: int = 0
    stored: int = 0
    signals: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    episodes: list[Episode] = field(default_factory=list)
    close_reasons: Counter[str] = field(default_factory=Counter)

    def top(self, n: int) -> list[Episode]:
        """The n episodes with the highest peak profit (earliest first among equals)."""
        return sorted(self.episodes, key=lambda e: (-e.peak_profit_percent, e.opened_at))[:n]


def read_quotes(path: Path) -> Iterator[Tick]:
    """Ticks of `path` in file order; ReplayInputError names path:line of the first bad row."""
    return quotes_csv.read_quotes(path, ReplayInputError, "replay file", in_order=True)


def exchanges_in(path: Path) -> list[str]:
    """Validate the whole file; the exchanges it quotes, in order of first appearance."""
    return list(dict.fromkeys(t.exchange for t in read_quotes(path)))


def replay_params(settings: Settings, seen: list[str]) -> dict[str, ExchangeParams]:
    """The config's exchanges if any, else zero-fee defaults for the exchanges seen."""
    if settings.exchanges:
        return params_from_settings(settings.exchanges)
    return params_from_settings(
        ExchangeSettings(id=name, symbols=("X/Y",), maker_fee=0.0, taker_fee=0.0) for name in seen
    )


async def replay(
    path: Path, settings: Settings, params: Mapping[str, ExchangeParams], *, store: bool = True
) -> ReplaySummary:
    """Run the file through a fresh detector (and the writer into settings' data dir)."""
    detector = Detector(settings.detector, params)
    writer = _open_writer(settings) if store else None
    keep = TickFilter(settings.storage.conflate_ms, settings.storage.skip_unchanged).keep
    batch_size = settings.storage.batch_size
    summary = ReplaySummary()
    try:
        for tick in read_quotes(path):
            now = tick.received
            if summary.first_ts is None:
                summary.first_ts = now
            summary.last_ts = now
            summary.ticks += 1
            _record(detector.on_tick(tick, now), writer, summary)
            if writer is not None and keep(tick):
                writer.add_tick(tick)
                summary.stored += 1
                if writer.pending_ticks >= batch_size:
                    await writer.flush()
        if summary.last_ts is not None:
            _record(detector.close_all(summary.last_ts, END_REASON), writer, summary)
    finally:
        if writer is not None:
            await writer.close()
    return summary


def _open_writer(settings: Settings) -> Writer:
    make_data_dir(settings.storage.data_dir)
    return Writer.open(settings.storage, Metrics())


def _record(
    found: Iterable[Signal | Episode], writer: Writer | None, summary: ReplaySummary
) -> None:
    for out in found:
        if isinstance(out, Signal):
            summary.signals += 1
            if writer is not None:
                signal_id = writer.next_id("arbitrage_signals")
                writer.submit(op_calling(signal_ops.insert_signal, signal_id, out))
        else:
            summary.episodes.append(out)
            summary.close_reasons[out.close_reason] += 1
            if writer is not None:
                writer.submit(op_calling(signal_ops.insert_episode, out))
