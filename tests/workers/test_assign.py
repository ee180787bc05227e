"""Which worker runs which exchanges: balanced by symbols, and on reload only the workers
whose share changed restart."""

from __future__ import annotations

from arbot.settings import ExchangeSettings
from arbot.workers.assign import assign, reassign, share_changed


def ex(name: str, symbols: int = 1, **extra: object) -> ExchangeSettings:
    pairs = [f"C{i}/USDT" for i in range(symbols)]
    return ExchangeSettings.model_validate(
        {"id": "binance", "name": name, "symbols": pairs, **extra}
    )


def names(shares: list[tuple[ExchangeSettings, ...]]) -> list[list[str]]:
    return [[e.name for e in share] for share in shares]


def test_the_exchanges_are_spread_by_symbols() -> None:
    shares = assign([ex("a", 10), ex("b", 3), ex("c", 4), ex("d", 2)], 2)
    assert names(shares) == [["a"], ["c", "b", "d"]]


def test_more_workers_than_exchanges_leaves_some_idle() -> None:
    assert names(assign([ex("a"), ex("b")], 3)) == [["a"], ["b"], []]


def test_a_reload_keeps_each_exchange_where_it_runs() -> None:
    """Adding one exchange changes one share; a fee change alone restarts nothing; a
    changed symbol list restarts its worker only."""
    before = assign([ex("a", 2), ex("b", 2), ex("c", 1)], 2)
    after = reassign(before, [ex("a", 2, taker_fee=0.002), ex("b", 2), ex("c", 1), ex("d", 1)])
    assert names(after) == [["a", "c"], ["b", "d"]]
    assert [share_changed(x, y) for x, y in zip(before, after, strict=True)] == [False, True]
    moved = reassign(after, [ex("a", 3), ex("b", 2), ex("c", 1), ex("d", 1)])
    assert [share_changed(x, y) for x, y in zip(after, moved, strict=True)] == [True, False]


def test_a_removed_exchange_changes_its_share_only() -> None:
    before = assign([ex("a"), ex("b"), ex("c")], 2)
    after = reassign(before, [ex("a"), ex("b")])
    assert names(after) == [["a"], ["b"]]
    assert [share_changed(x, y) for x, y in zip(before, after, strict=True)] == [True, False]
