"""`arbot replay`: recorded quotes through the engine on the file's clock, into arbot.db.

Source: a quote file (recorded.py). Clock: the data's. Sink: the data dir's arbot.db
through the same Writer and record SQL as the daemon (ticks thinned by the configured
conflation, as in the daemon; with store=False nothing is written). A replay is a pure
function of (file, settings). Episodes still open at the end close with reason
"end_of_input". The paper executor runs when paper.enabled, as in the daemon. The engine
starts fresh: ids continue the data dir's, but no open episodes or paper balances are taken
from it, and none are left in it.

A file already replayed into a data dir (same content) is refused: its signals and trades
would be stored twice. Each replay is recorded in arbot.db's `replays` table.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from arbot.engine import Engine, Resume
from arbot.errors import InputError
from arbot.metrics import Metrics
from arbot.models import Episode, ExchangeParams
from arbot.recorded import QuoteFile, run
from arbot.records import Record, SignalFound
from arbot.settings import Settings
from arbot.storage.connection import Pragmas, db_path
from arbot.storage.replays import record_replay, replayed_at
from arbot.storage.schema import make_data_dir, open_database
from arbot.storage.writer import Writer


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


async def replay(
    source: QuoteFile,
    settings: Settings,
    params: Mapping[str, ExchangeParams],
    *,
    store: bool = True,
    progress: Callable[[int], object] | None = None,
) -> ReplaySummary:
    """Run the file through a fresh engine (and into settings' data dir when `store`)."""
    writer = _open_writer(settings, source) if store else None
    first_ids = writer.resume_state().first_ids if writer is not None else {}
    engine = Engine(settings, params, Resume(first_ids), paper=settings.paper.enabled)
    summary = ReplaySummary()
    try:
        for out in run(engine, source.ticks(), progress):
            _count(out.records, summary)
            if out.ticks and summary.first_ts is None:
                summary.first_ts = out.ticks[0].received
            if writer is not None:
                summary.stored += len(out.ticks)
                writer.add(out.ticks, out.records)
                if writer.pending >= settings.storage.batch_size:
                    await writer.flush()
        if writer is not None:
            await writer.flush()
    finally:
        if writer is not None:
            await writer.close()
    summary.ticks = engine.accepted
    summary.last_ts = engine.now if engine.accepted else None
    if writer is not None:
        with _connect(settings) as conn:
            at = datetime.now(UTC).isoformat(timespec="seconds")
            record_replay(
                conn,
                source.sha256,
                str(source.path),
                at=at,
                ticks=summary.ticks,
                signals=summary.signals,
            )
    return summary


def _count(records: Iterable[Record], summary: ReplaySummary) -> None:
    for record in records:
        if isinstance(record, SignalFound):
            summary.signals += 1
        elif isinstance(record, Episode):
            summary.episodes.append(record)
            summary.close_reasons[record.close_reason] += 1


def _open_writer(settings: Settings, source: QuoteFile) -> Writer:
    make_data_dir(settings.storage.data_dir)
    with _connect(settings) as conn:
        done = replayed_at(conn, source.sha256)
    if done is not None:
        raise InputError(
            f"{source.path}: already replayed into {db_path(settings.storage.data_dir, 'arbot')} "
            f"at {done}; storing it again would duplicate its signals (use another --data-dir, "
            "or --no-store)"
        )
    return Writer.open(settings.storage, Metrics())


@contextmanager
def _connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    st = settings.storage
    conn = open_database(st.data_dir, "arbot", Pragmas.of(st))
    try:
        yield conn
    finally:
        conn.close()
