"""SentLog keeps exactly the numbers sent, compactly, so sent and stored compare exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arbot.localmarket.sentlog import SentLog, expand


@given(st.lists(st.booleans(), max_size=300))
def test_runs_expand_to_exactly_the_numbers_sent(delivered: list[bool]) -> None:
    """Numbering every published quote and logging the ones that went out (any pattern of
    sends and misses) gives runs that expand to those numbers, in order, one run per
    unbroken stretch."""
    log = SentLog()
    sent: list[int] = []
    for went_out in delivered:
        number = log.next("BTC/USDT")
        if went_out:
            log.sent("BTC/USDT", number)
            sent.append(number)
    runs = log.runs().get("BTC/USDT", [])
    assert expand(runs) == sent
    assert len(runs) == sum(1 for i, n in enumerate(sent) if i == 0 or sent[i - 1] != n - 1)
    assert log.published["BTC/USDT"] == len(delivered)
