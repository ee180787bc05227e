"""`arbot replay`: recorded quotes and order books through the engine on the file's clock,
into the configured storage.

Source: a file of quotes and books (recorded.py). Clock: the data's. Sink: the data dir's
arbot.db, or the PostgreSQL server with storage.backend = "postgresql", through the
daemon's writer and record SQL for that backend (ticks thinned by the configured
conflation and books stored as snapshots and deltas, as in the daemon; with store=False
nothing is written). A replay is a pure function of (file, settings).
Episodes still open at the end close with reason "end_of_input". The paper executor runs
when paper.enabled, as in the daemon. The engine starts fresh: ids continue the database's
(on PostgreSQL, those of the configured shard, whose lock the replay holds like a daemon;
on SQLite, the data dir's daemon lock, so a replay is refused while its daemon runs). What a
daemon resumes from, its open episodes and paper balances, is neither read nor written: a
replay's paper account lives in its trades and summary.

A file already replayed into a database (same content) is refused: its signals and trades
would be stored twice. Each replay is recorded in the database's `replays` table.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from arbot.engine import Engine
from arbot.errors import InputError
from arbot.metrics import Metrics
from arbot.models import Episode, ExchangeParams
from arbot.recorded import QuoteFile, drive
from arbot.recorded_csv import Item
from arbot.records import BalanceSnapshot, EpisodesOpen, Output, Record, Resume, SignalFound
from arbot.settings import Settings
from arbot.storage.backend import backend_of
from arbot.storage.batches import BatchWriter
from arbot.storage.pg.shard import owns
from arbot.storage.replays import record_replay, replayed_at, stored_overlap

# Records a daemon resumes from; a replay leaves them to the daemon.
_RESUME = (EpisodesOpen, BalanceSnapshot)


@dataclass(slots=True)
class ReplaySummary:
    ticks: int = 0
    stored: int = 0
    books: int = 0
    signals: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    episodes: list[Episode] = field(default_factory=list)
    close_reasons: Counter[str] = field(default_factory=Counter)
    database: str | None = None
    """Where it was stored (None: store=False)."""

    def top(self, n: int) -> list[Episode]:
        """The n episodes with the highest peak profit (earliest first among equals)."""
        return sorted(self.episodes, key=lambda e: (-e.peak_profit_percent, e.opened_at))[:n]


async def replay(
    source: QuoteFile,
    settings: Settings,
    params: Mapping[str, ExchangeParams],
    *,
    store: bool = True,
    progress: Callable[[int], object] | None = None,
) -> ReplaySummary:
    """Run the file through a fresh engine (and into the configured storage when `store`)."""
    summary = ReplaySummary()
    with contextlib.ExitStack() as held:
        writer = _open_writer(settings, source, summary, held) if store else None
        engine = await _run(source, settings, params, writer, summary, progress=progress)
        summary.ticks = engine.accepted
        summary.books = engine.books
        summary.last_ts = engine.now if engine.accepted else None
        if writer is not None:
            with backend_of(settings).open("arbot") as (conn, _):
                at = datetime.now(UTC).isoformat(timespec="seconds")
                record_replay(
                    conn,
                    source.content,
                    str(source.path),
                    at=at,
                    ticks=summary.ticks,
                    signals=summary.signals,
                )
    return summary


async def _run(
    source: QuoteFile,
    settings: Settings,
    params: Mapping[str, ExchangeParams],
    writer: BatchWriter | None,
    summary: ReplaySummary,
    *,
    progress: Callable[[int], object] | None,
) -> Engine:
    sink = ReplaySink(summary, writer, settings.storage.batch_size)
    try:
        first_ids = writer.resume_state().first_ids if writer is not None else {}
        engine = Engine(settings, params, Resume(first_ids), paper=settings.paper.enabled)
    except BaseException:
        await sink.close()
        raise
    shard = settings.shard
    items: Iterable[Item] = source.ticks()
    if shard.count > 1:  # a shard's replay stores its own symbols, as its daemon would
        items = (i for i in items if owns(shard, i.symbol))
    await drive(engine, items, sink, progress)
    return engine


class ReplaySink:
    """A replay's Sink: counts what the engine found into the summary and, when storing,
    hands ticks, books and records to the writer in batches of storage.batch_size items. What a
    daemon resumes from (open episodes, paper balances) is left to the daemon."""

    def __init__(self, summary: ReplaySummary, writer: BatchWriter | None, batch: int) -> None:
        self.summary = summary
        self._writer = writer
        self._batch = batch

    def put(self, out: Output) -> None:
        summary = self.summary
        _count(out.records, summary)
        if out.ticks and summary.first_ts is None:
            summary.first_ts = out.ticks[0].received
        if self._writer is not None:
            summary.stored += len(out.ticks)
            records = [r for r in out.records if not isinstance(r, _RESUME)]
            self._writer.add(out.ticks, records, out.books)

    async def room(self) -> None:
        if self._writer is not None and self._writer.pending >= self._batch:
            await self._writer.flush()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()


def _count(records: Iterable[Record], summary: ReplaySummary) -> None:
    for record in records:
        if isinstance(record, SignalFound):
            summary.signals += 1
        elif isinstance(record, Episode):
            summary.episodes.append(record)
            summary.close_reasons[record.close_reason] += 1


def _open_writer(
    settings: Settings, source: QuoteFile, summary: ReplaySummary, held: contextlib.ExitStack
) -> BatchWriter:
    backend = backend_of(settings)
    with backend.open("arbot") as (conn, database):
        done = replayed_at(conn, source.content)
        overlap = None if done else stored_overlap(conn, _own_spans(source, settings))
    again = f"use {backend.elsewhere}, or --no-store"
    if done is not None:
        raise InputError(
            f"{source.path}: already replayed into {database} at {done} (these quotes, in "
            f"whatever file or encoding); storing them again would duplicate their signals "
            f"({again})"
        )
    if overlap is not None:
        exchange, symbol, first, last = overlap
        raise InputError(
            f"{source.path}: {database} already holds {exchange} {symbol} ticks between "
            f"{_iso(first)} and {_iso(last)}, the file's span of them; its signals and "
            f"episodes would collide with the stored ones ({again})"
        )
    summary.database = database
    backend.hold_for_writing(held)
    return backend.open_writer(Metrics())


def _own_spans(source: QuoteFile, settings: Settings) -> dict[tuple[str, str], tuple[float, float]]:
    """The file's (exchange, symbol) spans this replay stores: with [shard], its own."""
    return {k: v for k, v in source.spans.items() if owns(settings.shard, k[1])}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
