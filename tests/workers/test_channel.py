"""The worker-to-daemon encoding: a batch of queue items comes out as it went in, in order,
bit-exact, whatever its mix of ticks, books, outages and gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arbot.models import Book, FeedDown, FeedGap, QueueItem, Tick
from arbot.workers import channel

NAMES = st.sampled_from(["binance", "okx", "kraken 2", "ünïcode"])
SYMBOLS = st.sampled_from(["BTC/USDT", "ETH/USD", "SOL/USDC"])
FLOATS = st.floats(allow_nan=False)
SIZES = st.none() | st.floats(min_value=0, allow_nan=False)
LEVELS = st.lists(st.tuples(FLOATS, FLOATS), max_size=5).map(tuple)
TICKS = st.builds(Tick, NAMES, SYMBOLS, FLOATS, FLOATS, SIZES, SIZES, FLOATS, FLOATS)
BOOKS = st.builds(Book, NAMES, SYMBOLS, LEVELS, LEVELS, FLOATS, FLOATS, st.booleans())
DOWNS = st.builds(FeedDown, NAMES, FLOATS, st.text(max_size=20))
GAPS = st.builds(FeedGap, NAMES, FLOATS, FLOATS, st.text(max_size=20))
ITEMS = st.lists(TICKS | BOOKS | DOWNS | GAPS, max_size=40)


def decode(data: bytes) -> list[QueueItem]:
    (size,) = channel.LENGTH.unpack_from(data)
    assert size == len(data) - channel.LENGTH.size  # one frame, nothing else
    assert data[4:5] == channel.ITEMS
    return channel.decode_items(data[5:])


@given(ITEMS)
def test_a_batch_decodes_to_the_items_sent_in_their_order(items: list[QueueItem]) -> None:
    out = decode(channel.encode_items(items))
    assert out == items
    assert [type(i) for i in out] == [type(i) for i in items]
    for sent, got in zip(items, out, strict=True):
        if isinstance(sent, Tick):
            # None stays None, 0.0 stays 0.0: the sizes' absence is flagged, not a value
            assert (sent.bid_size is None, sent.ask_size is None) == (
                got.bid_size is None,  # type: ignore[union-attr]
                got.ask_size is None,  # type: ignore[union-attr]
            )


def test_a_tick_costs_a_fixed_row_not_a_pickle() -> None:
    """A thousand ticks of one exchange and symbol: 54 bytes a tick (a 53-byte row, a kind
    byte) plus a small header."""
    tick = Tick("binance", "BTC/USDT", 1.0, 2.0, 3.0, None, 4.0, 5.0)
    data = channel.encode_items([tick] * 1000)
    assert 54_000 < len(data) < 54_000 + 100
