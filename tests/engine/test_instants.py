"""Snapshot semantics: rows with one timestamp are one instant, whatever their order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arbot.engine import Engine
from arbot.models import Book, Tick
from arbot.records import Resume, SignalFound

from .helpers import EXCHANGES, SYMBOLS, engine_records
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
