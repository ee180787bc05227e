"""An open episode across a restart: the state a run leaves (records.OpenEpisodeState),
the episode the next run resumes from it, or the record it closes with when it cannot."""

from __future__ import annotations

from arbot.detector.state import OpenEpisode, Quote
from arbot.models import Episode
from arbot.records import OpenEpisodeState


def left_open(ep: OpenEpisode) -> OpenEpisodeState:
    return OpenEpisodeState(
        ep.key,
        ep.symbol,
        ep.buy.venue.name,
        ep.buy.symbol,
        ep.sell.venue.name,
        ep.sell.symbol,
        ep.opened_at,
        ep.peak,
        ep.updates,
        ep.signals,
        ep.last_signal_pct,
        ep.last_signal_at,
        ep.peak_profit,
    )


def resumed(st: OpenEpisodeState, buy: Quote, sell: Quote, resume_by: float) -> OpenEpisode:
    """The episode again, same key, peaks and counts, waiting until `resume_by` for fresh
    quotes of its legs."""
    ep = OpenEpisode(st.symbol, buy, sell, st.peak_profit_percent, st.opened_at)
    ep.key = st.key
    ep.updates, ep.signals = st.updates, st.signals
    ep.last_signal_pct, ep.last_signal_at = st.last_signal_percent, st.last_signal_at
    ep.peak_profit = st.peak_profit
    ep.resume_by = resume_by
    return ep


def closed_state(st: OpenEpisodeState, now: float, reason: str) -> Episode:
    return Episode(
        key=st.key,
        symbol=st.symbol,
        buy_exchange=st.buy_exchange,
        sell_exchange=st.sell_exchange,
        opened_at=st.opened_at,
        closed_at=now,
        peak_profit_percent=st.peak_profit_percent,
        updates=st.updates,
        signals=st.signals,
        close_reason=reason,
        peak_profit=st.peak_profit,
    )
