"""Snapshot semantics: rows with one timestamp are one instant, whatever their order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbot.engine import Engine
from arbot.models import Book, Tick
from arbot.records import Record, Resume, SignalFound

from .helpers import EXCHANGES, SYMBOLS, engine_records, params
from .helpers import settings as engine_settings

T0 = 1_750_000_000.0
SETTINGS = engine_settings()


@st.composite
def instants(draw: st.DrawFn) -> list[list[Tick]]:
    """Instants of quotes around 100 (wide enough offsets that crosses happen), each with
    some of the (exchange, symbol) keys, a key sometimes twice (same millisecond)."""
    out: list[list[Tick]] = []
    t = T0
    for _ in range(draw(st.integers(1, 25))):
        t += draw(st.sampled_from([0.001, 0.5, 1.0, 2.0, 7.0]))
        group: list[Tick] = []
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(EXCHANGES), st.sampled_from(SYMBOLS)),
                min_size=1,
                max_size=8,
            )
        )
        for exchange, symbol in keys:
            mid = 100.0 + draw(st.integers(-6, 6)) * 0.1
            spread = draw(st.sampled_from([0.01, 0.02, 0.05]))
            size = draw(st.sampled_from([0.5, 1.0, 3.0]))
            group.append(Tick(exchange, symbol, mid - spread, mid + spread, size, size, t, t))
        out.append(group)
    return out


@st.composite
def with_permutation(draw: st.DrawFn) -> tuple[list[list[Tick]], list[list[Tick]]]:
    """Instants and the same instants with rows shuffled, rows of one key in file order."""
    groups = draw(instants())
    shuffled: list[list[Tick]] = []
    for group in groups:
        order = draw(st.permutations(range(len(group))))
        # Keep each key's rows in their original relative order: refill its slots in order.
        by_key: dict[tuple[str, str], list[Tick]] = {}
        for t in group:
            by_key.setdefault((t.exchange, t.symbol), []).append(t)
        slots = [group[i] for i in order]
        taken = {k: iter(v) for k, v in by_key.items()}
        shuffled.append([next(taken[(t.exchange, t.symbol)]) for t in slots])
    return groups, shuffled


@settings(max_examples=100)
@given(with_permutation())
def test_order_within_an_instant_changes_nothing(
    case: tuple[list[list[Tick]], list[list[Tick]]],
) -> None:
    original, shuffled = case
    records_a, stored_a = engine_records(SETTINGS, [t for g in original for t in g])
    records_b, stored_b = engine_records(SETTINGS, [t for g in shuffled for t in g])
    assert records_a == records_b
    assert sorted(stored_a) == sorted(stored_b)


def test_a_state_that_never_existed_is_not_a_signal() -> None:
    """Both venues jump by 1 % in the same second. Evaluated row by row, the first venue's
    new quote would meet the other's old one (a 1 % cross that never existed)."""
    before = [
        Tick("binance", "BTC/USDT", 99.99, 100.01, 1.0, 1.0, T0, T0),
        Tick("okx", "BTC/USDT", 99.99, 100.01, 1.0, 1.0, T0, T0),
    ]
    after = [
        Tick("binance", "BTC/USDT", 100.99, 101.01, 1.0, 1.0, T0 + 1, T0 + 1),
        Tick("okx", "BTC/USDT", 100.99, 101.01, 1.0, 1.0, T0 + 1, T0 + 1),
    ]
    for rows in (before + after, before + after[::-1]):
        records, _ = engine_records(SETTINGS, rows)
        assert not [r for r in records if isinstance(r, SignalFound)]


def test_a_real_cross_within_an_instant_is_found_once() -> None:
    rows = [
        Tick("binance", "BTC/USDT", 100.49, 100.51, 1.0, 1.0, T0, T0),
        Tick("okx", "BTC/USDT", 99.99, 100.01, 1.0, 1.0, T0, T0),
    ]
    for order in (rows, rows[::-1]):
        records, _ = engine_records(SETTINGS, order)
        signals = [r for r in records if isinstance(r, SignalFound)]
        assert [(s.signal.buy_exchange, s.signal.sell_exchange) for s in signals] == [
            ("okx", "binance")
        ]


def test_rows_of_one_key_and_millisecond_are_all_stored_in_order() -> None:
    """Three different quotes of one exchange in one millisecond: three stored ticks, 1 µs
    apart, the last one being the detector's view."""
    rows = [Tick("okx", "BTC/USDT", 99.9 + i * 0.01, 100.1, 1.0, 1.0, T0, T0) for i in range(3)]
    _, stored = engine_records(SETTINGS, rows)
    assert [t.bid for t in stored] == [r.bid for r in rows]
    assert [round((t.timestamp - T0) * 1e6) for t in stored] == [0, 1, 2]


def test_books_pass_through_in_order_and_do_not_cut_an_instant() -> None:
    """An order book (depth > 0) goes to the output as it came, counted apart from ticks;
    with and without detection."""
    book = Book("a", "BTC/USDT", ((99.9, 1.0),), ((100.1, 2.0),), 10.0, 10.0)
    ticks = [Tick(x, "BTC/USDT", 99.9, 100.1, 1.0, 2.0, 10.0, 10.0) for x in ("a", "b")]
    for detect in (True, False):
        engine = Engine(engine_settings(), {}, Resume({}), paper=False, detect=detect)
        out = engine.process([ticks[0], book, ticks[1]])
        assert out.books == [book] and engine.books == 1
        assert engine.accepted == 2 and len(out.ticks) == 2


BOOK_SETTINGS = SETTINGS.model_copy(
    update={"detector": SETTINGS.detector.model_copy(update={"sizes": (50.0, 500.0)})}
)


@st.composite
def book_instants(draw: st.DrawFn) -> list[list[Tick | Book]]:
    """Instants of order books around 100, two levels a side, as a depth feed sends them:
    a key's book right after its top tick, or alone when only its deeper level changed."""
    out: list[list[Tick | Book]] = []
    tops: dict[tuple[str, str], tuple[float, float, float]] = {}
    t = T0
    for _ in range(draw(st.integers(1, 15))):
        t += draw(st.sampled_from([0.001, 0.5, 2.0, 7.0]))
        group: list[Tick | Book] = []
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(EXCHANGES), st.sampled_from(SYMBOLS)),
                min_size=1,
                max_size=6,
            )
        )
        for exchange, symbol in keys:
            mid = 100.0 + draw(st.integers(-6, 6)) * 0.1
            size = draw(st.sampled_from([0.5, 1.0]))
            deep = draw(st.sampled_from([0.5, 3.0]))
            bids = ((mid - 0.02, size), (mid - 0.1, deep))
            asks = ((mid + 0.02, size), (mid + 0.1, deep))
            if tops.get((exchange, symbol)) != (mid, size, size):
                tops[(exchange, symbol)] = (mid, size, size)
                group.append(Tick(exchange, symbol, mid - 0.02, mid + 0.02, size, size, t, t))
            group.append(Book(exchange, symbol, bids, asks, t, t))
        out.append(group)
    return out


def _key_of(item: Tick | Book) -> tuple[str, str]:
    return (item.exchange, item.symbol)


def book_records(items: list[Tick | Book], cuts: list[int] = []) -> list[Record]:  # noqa: B006
    """The engine's records for `items`, fed in chunks ending at `cuts` (complete=False)."""
    engine = Engine(BOOK_SETTINGS, params(BOOK_SETTINGS), Resume({}), paper=True)
    records: list[Record] = []
    start = 0
    for end in [*sorted(cuts), len(items)]:
        records += engine.process(items[start:end], complete=False).records
        start = end
    return records + engine.finish(None, "end", keep_open=False).records


@settings(max_examples=100)
@given(book_instants(), st.data())
def test_order_and_chunks_of_an_instant_with_books_change_nothing(
    groups: list[list[Tick | Book]], data: st.DataObject
) -> None:
    """Ticks and books of one timestamp are one instant: shuffled across keys (each key's
    rows in order) or cut by chunk boundaries, the records are the same."""
    items = [item for g in groups for item in g]
    shuffled: list[Tick | Book] = []
    for group in groups:
        order = data.draw(st.permutations(range(len(group))))
        taken: dict[tuple[str, str], list[Tick | Book]] = {}
        for item in group:
            taken.setdefault(_key_of(item), []).append(item)
        rows = {k: iter(v) for k, v in taken.items()}
        shuffled += [next(rows[_key_of(group[i])]) for i in order]
    cuts = data.draw(st.lists(st.integers(0, len(items)), max_size=4))
    expected = book_records(items)
    assert book_records(shuffled) == expected
    assert book_records(items, cuts) == expected


def test_a_book_after_another_venues_tick_belongs_to_the_instant() -> None:
    """okx's book comes after binance's tick of the same timestamp, and after a chunk
    boundary: the cross is still sized through both books."""
    a = Book("okx", "BTC/USDT", ((99.98, 1.0),), ((100.0, 0.5), (100.01, 1.0)), T0, T0)
    b = Book("binance", "BTC/USDT", ((100.5, 0.3), (100.4, 1.0)), ((100.52, 1.0),), T0, T0)
    ticks = [
        Tick(x.exchange, x.symbol, x.bids[0][0], x.asks[0][0], x.bids[0][1], x.asks[0][1], T0, T0)
        for x in (a, b)
    ]
    records = book_records([ticks[0], ticks[1], b, a], cuts=[3])
    [found] = [r for r in records if isinstance(r, SignalFound)]
    trade = found.signal.book_trade
    assert trade is not None and trade.quantity == pytest.approx(1.3)  # all binance's bids
    assert (found.signal.buy_exchange, found.signal.buy_price) == ("okx", 100.0)
