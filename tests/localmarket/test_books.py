"""Order books on the fakes. ccxt.pro's own book maintenance (REST or websocket snapshot,
then deltas, with its sequence checks) run against them ends with the fake's book; the
book faults show what ccxt does on a sequence gap, a bad checksum and a stale snapshot;
independent clients written from the venues' documents check the frames and checksums."""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from arbot.feeds.urls import rewrite_urls
from arbot.localmarket import LocalExchange, Quote, RandomWalk
from arbot.localmarket.books import LOT, Book, Snapshot, decimal
from arbot.localmarket.dialects import kraken, okx
from tests.helpers import wait_until

SYMBOL = {"binance": "BTC/USDT", "okx": "BTC/USDT", "kraken": "BTC/USD"}
RATE = 50.0  # quotes, hence book updates, per second
LEVELS = 20  # the fakes' default book depth
SIDES = ("bids", "asks")
Levels = list[list[float]]


def fake_exchange(kind: str) -> LocalExchange:
    return LocalExchange(kind, symbols=(SYMBOL[kind],), rate=RATE)


@contextlib.asynccontextmanager
async def pro(fake: LocalExchange, **options: Any) -> AsyncIterator[Any]:
    """A ccxt.pro instance of the fake's kind with every URL pointed at the fake."""
    import ccxt.pro

    if fake.kind == "binance":
        options.setdefault("fetchMarkets", {"types": ["spot"]})
    ex = getattr(ccxt.pro, fake.kind)({"enableRateLimit": False, "options": options})
    ex.urls["api"] = rewrite_urls(ex.urls["api"], fake.url)
    try:
        yield ex
    finally:
        await ex.close()


async def watch(ex: Any, symbol: str, limit: int | None, times: int) -> Any:
    """watch_order_book `times` times (each returns after at least one update)."""
    for _ in range(times):
        book = await asyncio.wait_for(ex.watch_order_book(symbol, limit), 5)
    return book


def ccxt_levels(book: Any, depth: int) -> tuple[Levels, Levels]:
    """A ccxt book's best `depth` levels a side as [price, size] (okx adds a count)."""
    if book is None:
        return [], []
    bids, asks = ([[float(p), float(s)] for p, s, *_ in book[side][:depth]] for side in SIDES)
    return bids, asks


def fake_levels(snap: Snapshot, depth: int) -> tuple[Levels, Levels]:
    """The fake's book as its control endpoint tells it, parsed as ccxt parses prices."""
    text = snap.text(depth)
    bids, asks = ([[float(p), float(s)] for p, s in text[side]] for side in SIDES)
    return bids, asks


async def settle(fake: LocalExchange, ex: Any, depth: int) -> tuple[Any, Any]:
    """Stop the fake's updates and let ccxt take in what was sent: (ccxt's best `depth`
    levels a side, the fake's)."""
    symbol = fake.symbols[0]
    fake.faults.silent = True
    expected = fake_levels(fake.book(symbol).snapshot(), depth)
    got = ccxt_levels(ex.orderbooks.get(symbol), depth)
    for _ in range(50):
        if got == expected:
            break
        await asyncio.sleep(0.02)
        got = ccxt_levels(ex.orderbooks.get(symbol), depth)
    return got, expected


# ccxt's book after its own snapshot + delta handling


@pytest.mark.parametrize(
    ("kind", "limit", "depth"),
    [
        ("binance", None, LEVELS),  # REST snapshot + @depth@100ms diffs, U/u chained
        ("okx", None, LEVELS),  # `books`: snapshot + updates, seqId/prevSeqId chained
        ("okx", 5, 5),  # `books5`: the best 5 levels whole each push
        ("kraken", 10, 10),  # `book` depth 10 of 20: ccxt truncates, as Kraken expects
        ("kraken", 25, LEVELS),
    ],
)
async def test_ccxt_book_ends_equal_to_the_fake_book(
    kind: str, limit: int | None, depth: int
) -> None:
    symbol = SYMBOL[kind]
    async with fake_exchange(kind) as fake, pro(fake) as ex:
        await watch(ex, symbol, limit, 30)
        got, expected = await settle(fake, ex, depth)
        nonce = ex.orderbooks[symbol]["nonce"]
    assert got == expected
    assert len(got[0]) == len(got[1]) == depth
    assert fake.book_sent[symbol] >= 29
    if (kind, limit) in (("binance", None), ("okx", None)):
        assert nonce == fake.book(symbol).id  # ccxt's nonce is the fake's update id


@pytest.mark.parametrize("kind", ["binance", "okx", "kraken"])
async def test_rest_snapshot_is_the_fake_book(kind: str) -> None:
    symbol = SYMBOL[kind]
    async with fake_exchange(kind) as fake, pro(fake) as ex:
        fake.book(symbol)
        await wait_until(lambda: fake.book_updates[symbol] >= 3)
        fake.faults.silent = True  # the book stands still
        book = await ex.fetch_order_book(symbol, 10)
    assert ccxt_levels(book, 10) == fake_levels(fake.book(symbol).snapshot(), 10)
    assert fake.book_served[symbol] == 1
    if kind == "binance":
        assert book["nonce"] == fake.book(symbol).id  # lastUpdateId


# What ccxt does on each fault


@pytest.mark.parametrize(
    ("kind", "error"), [("binance", ccxt.ChecksumError), ("okx", ccxt.InvalidNonce)]
)
async def test_sequence_gap_fails_one_watch_and_the_next_resyncs(
    kind: str, error: type[Exception]
) -> None:
    """binance: U != previous u + 1 raises ChecksumError; okx: prevSeqId != its last seqId
    raises InvalidNonce. Either drops the book; the next watch subscribes again (binance:
    a new REST snapshot; okx: unsubscribe + subscribe, a new websocket snapshot)."""
    symbol = SYMBOL[kind]
    async with fake_exchange(kind) as fake, pro(fake) as ex:
        await watch(ex, symbol, None, 5)
        fake.faults.book_gap = 1
        with pytest.raises(error) as caught:
            await watch(ex, symbol, None, 20)
        await watch(ex, symbol, None, 20)
        got, expected = await settle(fake, ex, LEVELS)
    assert caught.type is error
    assert fake.book_withheld[symbol] == 1
    assert got == expected
    if kind == "binance":
        assert fake.book_served[symbol] == 2
    else:
        assert fake.book_snapshots[symbol] == 2


async def test_kraken_sequence_gap_goes_unnoticed_by_ccxt() -> None:
    """Kraken v2 book frames carry no sequence number and ccxt's checksum check is off by
    default: missed updates leave ccxt with a wrong book and no error."""
    symbol = SYMBOL["kraken"]
    async with fake_exchange("kraken") as fake, pro(fake) as ex:
        await watch(ex, symbol, 25, 5)
        fake.faults.book_gap = 3
        await watch(ex, symbol, 25, 10)
        got, expected = await settle(fake, ex, LEVELS)
    assert fake.book_withheld[symbol] == 3
    assert got != expected
    assert fake.book_snapshots[symbol] == 1  # no resubscription


@pytest.mark.parametrize(("kind", "limit"), [("okx", None), ("kraken", 10)])
async def test_ccxt_ignores_a_bad_checksum(kind: str, limit: int | None) -> None:
    """ccxt 4.5's okx reads no checksum at all; kraken's check is off by default. The
    frames' data is right, so the book still ends right: the checksum went unread."""
    symbol = SYMBOL[kind]
    async with fake_exchange(kind) as fake, pro(fake) as ex:
        await watch(ex, symbol, limit, 5)
        fake.faults.bad_checksum = 3
        await watch(ex, symbol, limit, 10)
        got, expected = await settle(fake, ex, limit or LEVELS)
    assert fake.book_corrupted[symbol] == 3
    assert got == expected
    assert fake.book_snapshots[symbol] == 1


async def test_ccxt_kraken_checksum_option_stalls_the_connection() -> None:
    """With watchOrderBook.checksum on, ccxt 4.5's kraken formats its parsed floats as
    strings (`format_number(float)`: AttributeError) inside the websocket receive callback,
    whose loop then stops: the watch never returns. Fails once ccxt fixes it."""
    symbol = SYMBOL["kraken"]
    async with (
        fake_exchange("kraken") as fake,
        pro(fake, watchOrderBook={"checksum": True}) as ex,
    ):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ex.watch_order_book(symbol, 10), 1.0)
    assert fake.book_snapshots[symbol] == 1


async def test_binance_stale_snapshot_is_returned_then_fails_on_the_next_update() -> None:
    """A REST snapshot older than the first buffered diff: ccxt drops the buffered diffs
    that do not chain to it and returns the old book (right for its nonce, stale), then
    raises ChecksumError on the next diff; with fresh snapshots the resync is right."""
    symbol = SYMBOL["binance"]
    async with fake_exchange("binance") as fake, pro(fake) as ex:
        book = fake.book(symbol)  # started early: there is history to be stale from
        await wait_until(lambda: fake.book_updates[symbol] >= 30)
        fake.faults.stale_snapshot = 25
        first = await watch(ex, symbol, None, 1)
        nonce, first_levels = first["nonce"], ccxt_levels(first, LEVELS)
        newest_then = book.id
        with pytest.raises(ccxt.ChecksumError):
            await watch(ex, symbol, None, 5)
        fake.faults.stale_snapshot = 0
        await watch(ex, symbol, None, 10)
        got, expected = await settle(fake, ex, LEVELS)
    assert nonce < newest_then
    assert first_levels == fake_levels(book.at(nonce), LEVELS)
    assert got == expected


# The wire, checked by clients written from the venues' documents, not from the fake


def okx_checksum(bids: dict[str, str], asks: dict[str, str]) -> int:
    """OKX: best 25 a side, 'bidPx:bidSz:askPx:askSz:...', strings as received, signed."""
    best_bids = sorted(bids.items(), key=lambda level: -Decimal(level[0]))[:25]
    best_asks = sorted(asks.items(), key=lambda level: Decimal(level[0]))[:25]
    parts: list[str] = []
    for i in range(25):
        for side in (best_bids, best_asks):
            if i < len(side):
                parts += side[i]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 2**32 if crc >= 2**31 else crc


async def test_okx_books_frames_chain_and_carry_okx_checksums() -> None:
    symbol, inst = SYMBOL["okx"], "BTC-USDT"
    books: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
    checks: list[bool] = []
    last_seq = None
    async with (
        fake_exchange("okx") as fake,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{fake.url}/ws/v5/public") as ws,
    ):
        await ws.send_json({"op": "subscribe", "args": [{"channel": "books", "instId": inst}]})
        async for msg in ws:
            frame = json.loads(msg.data)
            if "action" not in frame:
                continue
            (data,) = frame["data"]
            assert data["prevSeqId"] == (-1 if frame["action"] == "snapshot" else last_seq)
            last_seq = data["seqId"]
            for side in ("bids", "asks"):
                for price, size, _, _ in data[side]:
                    if size == "0":
                        del books[side][price]
                    else:
                        books[side][price] = size
            checks.append(okx_checksum(books["bids"], books["asks"]) == data["checksum"])
            if len(checks) == 10:
                fake.faults.bad_checksum = 1
            if len(checks) == 20:
                fake.faults.silent = True
                break
        expected = fake.book(symbol).snapshot()
    assert checks == [True] * 10 + [False] + [True] * 9
    assert last_seq == expected.id
    assert books == {
        side: {decimal(p, expected.decimals): decimal(s, 8) for p, s in levels}
        for side, levels in (("bids", expected.bids), ("asks", expected.asks))
    }


def kraken_checksum(
    bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal], decimals: int
) -> int:
    """Kraken v2: best 10 asks then best 10 bids, price and qty at the pair's precision,
    point and leading zeros removed; unsigned crc32."""

    def text(value: Decimal, places: int) -> str:
        return f"{value:.{places}f}".replace(".", "").lstrip("0")

    levels = sorted(asks.items())[:10] + sorted(bids.items(), reverse=True)[:10]
    return zlib.crc32("".join(text(p, decimals) + text(q, 8) for p, q in levels).encode())


async def test_kraken_book_frames_truncate_to_the_depth_and_carry_kraken_checksums() -> None:
    symbol, depth = SYMBOL["kraken"], 10
    books: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    checks: list[bool] = []
    async with (
        fake_exchange("kraken") as fake,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{fake.url}/0/public/AssetPairs") as r:
            (pair,) = (await r.json())["result"].values()
        async with http.ws_connect(f"{fake.url}/v2") as ws:
            params = {"channel": "book", "symbol": [symbol], "depth": depth}
            await ws.send_json({"method": "subscribe", "params": params, "req_id": 1})
            async for msg in ws:
                frame = json.loads(msg.data, parse_float=Decimal)  # as Kraken advises
                if frame.get("channel") != "book":
                    continue
                (data,) = frame["data"]
                for side in ("bids", "asks"):
                    for level in data[side]:
                        books[side][level["price"]] = level["qty"]
                        if not level["qty"]:
                            del books[side][level["price"]]
                    # Levels pushed out of view get no removal: truncate to the depth.
                    kept = sorted(books[side], reverse=side == "bids")[:depth]
                    books[side] = {p: books[side][p] for p in kept}
                checksum = kraken_checksum(books["bids"], books["asks"], pair["pair_decimals"])
                checks.append(checksum == data["checksum"])
                if len(checks) == 10:
                    fake.faults.bad_checksum = 1
                if len(checks) == 20:
                    fake.faults.silent = True
                    break
        expected = fake.book(symbol).snapshot(depth)
    assert checks == [True] * 10 + [False] + [True] * 9
    assert books == {
        side: {Decimal(decimal(p, expected.decimals)): Decimal(decimal(s, 8)) for p, s in lv}
        for side, lv in (("bids", expected.bids), ("asks", expected.asks))
    }


def test_checksums_match_the_venues_documented_examples() -> None:
    # OKX's docs: "3366.1:7:3366.8:9:3366:6:3368:8" and "3366.1:7:3366.8:9:3368:8:3372:8".
    both = Snapshot(
        "X", 1, 0.0, 1, [(33661, 7 * LOT), (33660, 6 * LOT)], [(33668, 9 * LOT), (33680, 8 * LOT)]
    )
    uneven = Snapshot(
        "X", 1, 0.0, 1, [(33661, 7 * LOT)], [(33668, 9 * LOT), (33680, 8 * LOT), (33720, 8 * LOT)]
    )
    assert okx.checksum(both) == -1881014294
    assert okx.checksum(uneven) == 831078360
    # Kraken's docs: asks 0.05005 ... 0.05050, bids 0.05000 ... 0.04950, each 0.00000500.
    asks = [(p, 500) for p in range(5005, 5055, 5)]
    bids = [(p, 500) for p in (5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960, 4955, 4950)]
    assert kraken.checksum(Snapshot("X", 1, 0.0, 5, bids, asks)) == 974947235


# The simulated book


def quotes(symbol: str, n: int) -> list[Quote]:
    walk = RandomWalk(symbols=(symbol,), seed=3)
    return [walk.step(symbol, 1000.0 + i * 0.02) for i in range(n)]


def test_book_has_its_depth_uncrossed_with_the_quote_on_top() -> None:
    """The best levels are the quote rounded outwards to the tick, with its sizes."""
    first, *rest = quotes("ETH/USDT", 300)
    book = Book(first, levels=15)
    changed = []
    for q in rest:
        update = book.step(q)
        assert update is not None
        assert update.last - update.first + 1 == len(update.bids) + len(update.asks)
        changed.append(len(update.bids) + len(update.asks))
        snap = book.snapshot()
        assert len(snap.bids) == len(snap.asks) == 15
        assert snap.bids[0][0] < snap.asks[0][0]
        assert q.bid is not None and q.ask is not None
        assert 0 <= q.bid * 100 - snap.bids[0][0] < 1  # ETH ticks are cents
        assert 0 <= snap.asks[0][0] - q.ask * 100 < 1
        assert q.bid_size is not None and q.ask_size is not None
        assert (snap.bids[0][1], snap.asks[0][1]) == (
            round(q.bid_size * LOT),
            round(q.ask_size * LOT),
        )
    assert 2 <= sum(changed) / len(changed) <= 15  # a few levels per update, not all


def test_book_history_rebuilds_each_retained_state() -> None:
    first, *rest = quotes("BTC/USDT", 120)
    book = Book(first, history=50)
    states = {}
    for q in rest:
        book.step(q)
        states[book.id] = book.snapshot()
    ids = sorted(states)
    for update_id in ids[-50:]:
        assert book.at(update_id) == states[update_id]
    assert book.ago(3) == states[ids[-4]]
    assert book.ago(500) == book.at(ids[-51])  # the oldest retained
    with pytest.raises(LookupError):
        book.at(ids[-52])
    with pytest.raises(LookupError):
        book.at(book.id + 1)


def test_decimal_text() -> None:
    assert decimal(600001, 1) == "60000.1"
    assert decimal(600000, 1) == "60000"
    assert decimal(600001, 1, 8) == "60000.10000000"
    assert decimal(500, 8) == "0.000005"
    assert decimal(5005, 5, 5) == "0.05005"


async def test_control_book_endpoint_and_fault_switches() -> None:
    symbol = SYMBOL["binance"]
    async with fake_exchange("binance") as fake, aiohttp.ClientSession() as http:
        control = f"{fake.url}/_control"
        async with http.get(f"{control}/book", params={"symbol": symbol, "depth": "3"}) as r:
            started = await r.json()
        await wait_until(lambda: fake.book_updates[symbol] >= 3)
        async with http.get(
            f"{control}/book", params={"symbol": symbol, "id": str(started["id"])}
        ) as r:
            then = await r.json()
        async with http.get(f"{control}/book", params={"symbol": "NOPE/USDT"}) as r:
            assert r.status == 404
        async with http.get(f"{control}/book", params={"symbol": symbol, "id": "x"}) as r:
            assert r.status == 400
        async with http.get(
            f"{control}/fault", params={"name": "stale_snapshot", "value": "7"}
        ) as r:
            assert (await r.json())["faults"]["stale_snapshot"] == 7
        async with http.get(f"{control}/fault", params={"name": "book_gap", "value": "2"}) as r:
            assert r.status == 200
        await wait_until(lambda: fake.book_withheld[symbol] == 2)
        async with http.get(f"{control}/counters") as r:
            counters = await r.json()
    assert len(started["bids"]) == len(started["asks"]) == 3
    assert then["id"] == started["id"] and then["bids"][:3] == started["bids"]
    assert counters["book_withheld"] == {symbol: 2}
    assert counters["book_ids"][symbol] == fake.book(symbol).id
    assert counters["book_updates"][symbol] >= 5
    assert fake.faults.book_gap == 0  # used up
