"""When a book is stored as a snapshot and when as a delta (storage/book_rows.py): the first
of a key in a session, after a resync, at least every 60 s, at a new UTC day; a book of the
same instant replaces the row; times never go back; nothing moves on before a commit."""

from __future__ import annotations

from collections.abc import Mapping

from arbot.models import Book
from arbot.storage.book_rows import BookRows, Encoded, IdKey
from arbot.storage.books import DELTA, RESYNC, SNAPSHOT, rebuild

DAY = 86_400
T0 = 19_000 * DAY + 1000.0
SYMBOLS = {"BTC/USDT": 1, "ETH/USDT": 2}
EXCHANGES = {"okx": 1}


def book(ts: float, best: float = 100.0, symbol: str = "BTC/USDT", resync: bool = False) -> Book:
    bids = ((best, 1.0), (best - 0.5, 2.0))
    asks = ((best + 0.5, 1.5), (best + 1.0, ts % 7 + 1))
    return Book("okx", symbol, bids, asks, ts, ts + 0.01, resync)


def nothing_stored(keys: list[IdKey]) -> Mapping[IdKey, tuple[float, int]]:
    return {}


def encode(rows: BookRows, *books: Book) -> Encoded:
    out = rows.rows(list(books), SYMBOLS, EXCHANGES, nothing_stored)
    rows.commit()
    return out


def kinds(encoded: Encoded) -> list[int]:
    return [row[3] for row in encoded.rows + encoded.replacing]


def test_snapshot_first_then_deltas_and_every_60_seconds() -> None:
    rows = BookRows()
    out = encode(rows, *(book(T0 + k * 10) for k in range(13)))
    # 0 s snapshot; 10..50 s deltas; 60 s snapshot; 70..110 deltas; 120 s snapshot
    assert kinds(out) == [SNAPSHOT, *[DELTA] * 5, SNAPSHOT, *[DELTA] * 5, SNAPSHOT]
    assert kinds(encode(rows, book(T0 + 179.9))) == [DELTA]
    assert kinds(encode(rows, book(T0 + 180.0))) == [SNAPSHOT]


def test_each_key_starts_with_a_snapshot() -> None:
    rows = BookRows()
    out = encode(
        rows,
        book(T0),
        book(T0 + 1, symbol="ETH/USDT"),
        book(T0 + 2),
        book(T0 + 3, symbol="ETH/USDT"),
    )
    assert kinds(out) == [SNAPSHOT, SNAPSHOT, DELTA, DELTA]
    # A new session does not know what is stored: it starts again.
    assert kinds(encode(BookRows(), book(T0 + 4))) == [SNAPSHOT]


def test_a_resync_is_a_marked_snapshot() -> None:
    rows = BookRows()
    out = encode(rows, book(T0), book(T0 + 1, resync=True), book(T0 + 2))
    assert kinds(out) == [SNAPSHOT, RESYNC, DELTA]


def test_a_new_utc_day_starts_with_a_snapshot() -> None:
    rows = BookRows()
    midnight = (T0 // DAY + 1) * DAY
    out = encode(
        rows, book(midnight - 20), book(midnight - 10), book(midnight), book(midnight + 10)
    )
    assert kinds(out) == [SNAPSHOT, DELTA, SNAPSHOT, DELTA]


def test_a_book_of_the_same_instant_replaces_the_row() -> None:
    rows = BookRows()
    encode(rows, book(T0), book(T0 + 1, best=101.0))
    again = encode(rows, book(T0 + 1, best=102.0), book(T0 + 2, best=103.0))
    # The first replaces the stored row at T0 + 1 (a delta against T0's book, as that was).
    assert [r[2] for r in again.replacing] == [T0 + 1] and again.replacing[0][3] == DELTA
    assert [r[2] for r in again.rows] == [T0 + 2]
    stored = [encode(BookRows(), book(T0)).rows[0], *again.replacing, *again.rows]
    rebuilt = rebuild("okx", "BTC/USDT", [(r[2], r[3], r[4], r[5]) for r in stored[:2]])
    assert rebuilt is not None and rebuilt.bids == book(T0 + 1, best=102.0).bids


def test_times_never_go_back() -> None:
    rows = BookRows()
    out = encode(rows, book(T0), book(T0 + 5), book(T0 + 3, best=99.0))
    assert [(r[2], r[3]) for r in out.rows] == [(T0, SNAPSHOT), (T0 + 5, DELTA)]
    assert out.rows[1][5] == encode(BookRows(), book(T0), book(T0 + 3, best=99.0)).rows[1][5]


def test_an_earlier_stored_row_is_continued_after() -> None:
    def stored(keys: list[IdKey]) -> Mapping[IdKey, tuple[float, int]]:
        return {(1, 1): (T0 + 50, RESYNC)}

    out = BookRows().rows([book(T0 + 40), book(T0 + 60)], SYMBOLS, EXCHANGES, stored)
    # Stamped before the stored row: stored at its time, replacing it, still a resync.
    assert [(r[2], r[3]) for r in out.replacing] == [(T0 + 50, RESYNC)]
    assert [(r[2], r[3]) for r in out.rows] == [(T0 + 60, DELTA)]


def test_nothing_moves_on_without_a_commit() -> None:
    rows = BookRows()
    encode(rows, book(T0))
    first = rows.rows([book(T0 + 1, best=101.0)], SYMBOLS, EXCHANGES, nothing_stored)
    rows.rollback()
    again = rows.rows([book(T0 + 1, best=101.0)], SYMBOLS, EXCHANGES, nothing_stored)
    assert again == first and again.rows[0][3] == DELTA
