"""TickFilter invariants over arbitrary tick sequences."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from arbot.conflation import TickFilter
from arbot.models import Tick

ticks = st.lists(
    st.builds(
        lambda ex, ts, bid: Tick(ex, "BTC/USDT", bid, bid + 1, 1.0, 1.0, ts, ts),
        st.sampled_from(["a", "b"]),
        st.integers(0, 5000).map(lambda ms: ms / 1000),
        st.sampled_from([100.0, 101.0]),
    ),
    max_size=60,
)


@given(ticks, st.sampled_from([0, 250, 1000]), st.booleans())
def test_stored_ticks_respect_the_window_and_skip_repeats(
    seq: list[Tick], conflate_ms: int, skip_unchanged: bool
) -> None:
    """Per key, consecutive stored ticks are conflate_ms apart (by exchange time) and, with
    skip_unchanged, differ in quote; every tick is either stored or counted as skipped."""
    f = TickFilter(conflate_ms, skip_unchanged)
    stored = [t for t in seq if f.keep(t)]
    assert len(stored) + f.conflated + f.unchanged == len(seq)
    if not f.active:
        assert stored == seq
    for key in ("a", "b"):
        mine = [t for t in stored if t.exchange == key]
        for prev, cur in pairwise(mine):
            if conflate_ms:
                assert cur.timestamp - prev.timestamp >= conflate_ms / 1000
            if skip_unchanged:
                assert cur[2:6] != prev[2:6]
    first = {t.exchange: t for t in reversed(seq)}
    assert all(t in stored for t in first.values())  # the first tick of a key is always kept
