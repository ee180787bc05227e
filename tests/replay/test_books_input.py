"""Order-book files: the three layouts of the same books give the same items, as the live
depth feed hands them on; incremental_book_L2's rules; malformed rows stop with file:line."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from arbot.cli import main
from arbot.errors import InputError
from arbot.feeds.validate import top_of
from arbot.models import Book, Tick
from arbot.recorded import open_quote_file
from arbot.recorded_csv import Item, read_items

from .books import (
    INCREMENTAL_HEADER,
    SYMBOL,
    TARDIS_SYMBOL,
    Snap,
    random_books,
    wide_header,
    write_incremental,
    write_snapshot,
    write_wide,
)


def fed(path: Path, depth: int | None = None) -> list[Item]:
    source = open_quote_file(path, None if depth is None else lambda _: depth)
    return list(source.ticks())


def expected(snaps: list[Snap], depth: int = 10) -> list[Item]:
    """What the live feed hands on for these books, written out independently of as_fed:
    a book equal to the venue's last is dropped, a changed top comes first as a tick, a
    venue's first book is a resync."""
    out: list[Item] = []
    last: dict[str, Snap] = {}
    for s in snaps:
        before = last.get(s.venue)
        bids, asks = s.bids[:depth], s.asks[:depth]
        if before is not None and (before.bids[:depth], before.asks[:depth]) == (bids, asks):
            continue
        t = s.us / 1e6
        book = Book(s.venue, SYMBOL, bids, asks, t, t, before is None)
        if before is None or (before.bids[0], before.asks[0]) != (bids[0], asks[0]):
            out.append(top_of(book))
        out.append(book)
        last[s.venue] = s
    return out


def test_three_layouts_of_the_same_books_feed_the_same_items(tmp_path: Path) -> None:
    snaps = random_books()
    want = expected(snaps)
    assert sum(isinstance(i, Book) for i in want) < len(snaps)  # some books were repeats
    assert sum(isinstance(i, Tick) for i in want) < sum(isinstance(i, Book) for i in want)
    wide = write_wide(tmp_path / "wide.csv", snaps)
    snapshot = write_snapshot(tmp_path / "snap.csv", snaps)
    incremental = write_incremental(tmp_path / "inc.csv", snaps)
    assert fed(wide) == fed(snapshot) == fed(incremental) == want
    # The wide layout's columns in any order; gzip or not.
    order = list(range(len(wide_header())))
    random.Random(1).shuffle(order)
    shuffled = write_wide(tmp_path / "shuffled.csv", snaps, order)
    zipped = tmp_path / "snap.csv.gz"
    zipped.write_bytes(gzip.compress(snapshot.read_bytes()))
    assert fed(shuffled) == fed(zipped) == want
    # --depth keeps the best N levels (the incremental file keeps 10 by default).
    assert fed(wide, 3) == fed(incremental, 3) == expected(snaps, 3)


def test_same_books_in_another_layout_are_the_same_replay(tmp_path: Path) -> None:
    snaps = random_books(200)
    wide = open_quote_file(write_wide(tmp_path / "w.csv", snaps))
    snapshot = open_quote_file(write_snapshot(tmp_path / "s.csv", snaps))
    other = open_quote_file(write_wide(tmp_path / "o.csv", random_books(200, seed=8)))
    assert wide.content == snapshot.content != other.content
    assert wide.rows == len(expected(snaps))
    first, last = snaps[0].us / 1e6, snaps[-1].us / 1e6
    spans = wide.spans
    assert min(s[0] for s in spans.values()) == first and max(s[1] for s in spans.values()) == last


def incremental(tmp_path: Path, rows: list[list[object]]) -> Path:
    return write_rows(tmp_path / "inc.csv", INCREMENTAL_HEADER, rows)


def write_rows(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header), *(",".join(map(str, r)) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(us: int, snapshot: bool, side: str, price: float, amount: float) -> list[object]:
    return ["x", TARDIS_SYMBOL, us, us, str(snapshot).lower(), side, price, amount]


def books_of(path: Path, depth: int | None = None) -> list[Book]:
    return [i for i in fed(path, depth) if isinstance(i, Book)]


def test_incremental_rules(tmp_path: Path) -> None:
    us = 1_723_161_254_000_000
    rows = [
        row(us, False, "bid", 50.0, 1.0),  # before the first snapshot: skipped
        *(row(us + 1, True, "bid", p, 1.0) for p in (99.0, 98.0, 97.0)),
        *(row(us + 1, True, "ask", p, 1.0) for p in (101.0, 102.0)),
        row(us + 2, False, "bid", 99.0, 0),  # deletes the best bid
        row(us + 2, False, "ask", 100.5, 2.0),  # one update: same local_timestamp
        row(us + 3, False, "bid", 96.0, 4.0),  # below the best 2: no book handed on
        row(us + 4, False, "bid", 102.5, 1.0),  # crossed: the live feed rejects it
        row(us + 5, False, "bid", 102.5, 0),
        *(row(us + 6, True, "bid", p, 1.0) for p in (98.0, 97.0)),  # a fresh snapshot
        row(us + 6, True, "ask", 100.5, 2.0),
    ]
    books = books_of(incremental(tmp_path, rows), depth=2)
    t = [(us + k) / 1e6 for k in range(7)]
    assert [(b.bids, b.asks, b.received, b.resync) for b in books] == [
        (((99.0, 1.0), (98.0, 1.0)), ((101.0, 1.0), (102.0, 1.0)), t[1], True),
        (((98.0, 1.0), (97.0, 1.0)), ((100.5, 2.0), (101.0, 1.0)), t[2], False),
        # the fresh snapshot holds the same best levels, and is handed on whole
        (((98.0, 1.0), (97.0, 1.0)), ((100.5, 2.0),), t[6], True),
    ]
    # A resync hands its top on again as a tick, as the live feed does after a resync.
    ticks = [i for i in fed(tmp_path / "inc.csv", 2) if isinstance(i, Tick)]
    assert [x.received for x in ticks] == [t[1], t[2], t[6]]


def test_quote_rows_mix_with_book_rows(tmp_path: Path) -> None:
    header = [*wide_header(2), "bid", "bid_size", "ask", "ask_size"]
    path = write_rows(
        tmp_path / "mixed.csv",
        header,
        [
            [1723161254.0, "a", SYMBOL, 99, 98, 1, 1, 101, 102, 1, 1, "", "", "", ""],
            [1723161254.5, "q", SYMBOL, "", "", "", "", "", "", "", "", 99.5, 2, 100.5, 3],
        ],
    )
    items = fed(path)
    assert [type(i) for i in items] == [Tick, Book, Tick]
    assert items[2] == Tick("q", SYMBOL, 99.5, 100.5, 2.0, 3.0, 1723161254.5, 1723161254.5)


BAD_WIDE = {
    "crossed": ([1, "a", SYMBOL, 102, 98, 1, 1, 101, 102, 1, 1], "crossed book"),
    "order": ([1, "a", SYMBOL, 98, 99, 1, 1, 101, 102, 1, 1], "b2 99 breaks the falling"),
    "gap": ([1, "a", SYMBOL, "", 98, "", 1, 101, 102, 1, 1], "b2 is set below the empty"),
    "no price": ([1, "a", SYMBOL, 99, 98, 1, 1, 101, "", 1, 1], "a2 must be a number"),
    "negative": ([1, "a", SYMBOL, 99, 98, 1, -1, 101, 102, 1, 1], "bv2 must not be negative"),
    "one side": ([1, "a", SYMBOL, "", "", "", "", 101, 102, 1, 1], "need a bid and an ask"),
    "short": ([1, "a", SYMBOL, 99], "only 4 fields"),
    "unit": ([1723161254000, "a", SYMBOL, 99, 98, 1, 1, 101, 102, 1, 1], "not in seconds"),
}


@pytest.mark.parametrize("case", sorted(BAD_WIDE))
def test_a_malformed_book_row_stops_with_file_and_line(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, message = BAD_WIDE[case]
    good = [1723161254, "a", SYMBOL, 99, 98, 1, 1, 101, 102, 1, 1]
    path = write_rows(tmp_path / "bad.csv", wide_header(2), [good, good, bad])
    with pytest.raises(InputError) as caught:
        open_quote_file(path)
    assert str(caught.value).startswith(f"{path}:4: bad book row: ") and message in str(
        caught.value
    )
    assert main(["replay", str(path), "--no-store"]) == 2
    assert f"{path}:4: bad book row" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row(2, True, "buy", 99.0, 1.0), "side must be bid or ask"),
        (row(2, True, "bid", 99.0, -1.0), "amount must be a non-negative"),
        (row(2, True, "bid", 0.0, 1.0), "price must be a positive"),
        (["x", TARDIS_SYMBOL, 2, 2, "yes", "bid", 99.0, 1.0], "is_snapshot must be true"),
        (row(1_723_161_253_000_000, False, "bid", 99.0, 1.0), "local_timestamp goes back"),
    ],
)
def test_a_malformed_incremental_row_stops_with_file_and_line(
    tmp_path: Path, bad: list[object], message: str
) -> None:
    us = 1_723_161_254_000_000
    good = [row(us, True, "bid", 98.0, 1.0), row(us, True, "ask", 101.0, 1.0)]
    if bad[2] == 2:
        bad[2] = bad[3] = us + 1
    path = incremental(tmp_path, [*good, bad])
    with pytest.raises(InputError, match=rf"inc\.csv:4: bad book row: {message}"):
        open_quote_file(path)


def test_a_header_with_incomplete_book_columns_is_refused(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "h.csv", ["ts", "exchange", "symbol", "b1", "a1"], [])
    with pytest.raises(InputError, match=r"h\.csv: CSV header lacks column\(s\) bv1, av1"):
        list(read_items(path, InputError, "f", in_order=False))


def test_the_wide_layouts_time_may_be_timestamp_with_a_received_column(tmp_path: Path) -> None:
    """`timestamp` for `ts` gives the same books; a `local_timestamp` column
    is the received time."""
    snaps = random_books(80)
    wide = write_wide(tmp_path / "wide.csv", snaps)
    text = wide.read_text().replace("ts,", "timestamp,", 1)
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text)
    assert fed(renamed) == fed(wide)
    lines = wide.read_text().splitlines()
    later = [lines[0].replace("ts,", "timestamp,", 1) + ",local_timestamp"]
    later += [f"{line},{int(line.split(',')[0]) + 250_000}" for line in lines[1:]]
    with_received = tmp_path / "received.csv"
    with_received.write_text("\n".join(later) + "\n")
    books = [i for i in fed(with_received) if isinstance(i, Book)]
    assert books and all(b.received == pytest.approx(b.timestamp + 0.25) for b in books)
