"""The real daemon with `depth = 10` against the fakes' real order-book wire formats
(binance depth diffs, okx books with checksums): the books ccxt maintains reach arbot.db,
a sequence gap is a counted resync with a feed_gaps row, and `arbot query book` rebuilds
what the fakes had."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

from arbot.localmarket import LocalExchange
from arbot.localmarket.books import LOT, Snapshot
from tests.integration.process import DaemonProcess, eventually, eventually_scraped
from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.daemon import arbot_command, metric

DEPTH = 10
SYMBOL = "BTC/USDT"


def levels(snapshot: Snapshot) -> dict[str, list[list[float]]]:
    scale = 10**snapshot.decimals
    return {
        side: [[p / scale, s / LOT] for p, s in getattr(snapshot, side)[:DEPTH]]
        for side in ("bids", "asks")
    }


async def query_book(config: Path, name: str) -> dict[str, object]:
    argv = arbot_command("query", "book", "--exchange", name, "--symbol", SYMBOL)
    done = await asyncio.to_thread(
        subprocess.run,
        [*argv, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    book: dict[str, object] = json.loads(done.stdout)["book"]
    return book


async def test_books_from_the_venues_are_stored_and_rebuild(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    async with (
        LocalExchange("binance", rate=20, symbols=(SYMBOL,)) as binance,
        LocalExchange("okx", rate=20, symbols=(SYMBOL,)) as okx,
    ):
        fakes = {"binance": binance, "okx": okx}
        exchanges = [
            exchange(name, fake.kind, fake.url, symbols=[SYMBOL], depth=DEPTH)
            for name, fake in fakes.items()
        ]
        config = write_config(tmp_path / "arbot.toml", daemon_doc(data, exchanges, port))
        daemon = await DaemonProcess.start(config, port, {})
        reader = asyncio.create_task(daemon.read_logs())
        try:
            await eventually_scraped(
                daemon, lambda s: metric(s, "arbot_books_committed_total") >= 40
            )
            okx.faults.book_gap = 1
            await eventually(lambda: daemon.find("book_resync"), daemon.tail)
            await eventually_scraped(
                daemon, lambda s: metric(s, "arbot_books_committed_total") >= 80
            )
            for fake in fakes.values():
                fake.faults.silent = True  # books stand still: compare stored with the fakes'
            await asyncio.sleep(1.5)
            _, samples = await daemon.scrape()
            daemon.terminate()
            assert await daemon.wait() == 0
        finally:
            await daemon.reap()
            reader.cancel()
        final = daemon.events[-1]
        assert final["event"] == "daemon_stopped", daemon.tail()
        assert metric(samples, "arbot_book_resyncs_total", exchange="okx") == 1
        for name, fake in fakes.items():
            stored = await query_book(config, name)
            assert {"bids": stored["bids"], "asks": stored["asks"]} == levels(
                fake.book(SYMBOL).snapshot()
            ), name
    conn = sqlite3.connect(data / "arbot.db")
    try:
        gaps = conn.execute("SELECT exchange, reason FROM feed_gaps").fetchall()
        books = conn.execute("SELECT count(*) FROM books").fetchone()[0]
        ticks = conn.execute("SELECT count(*) FROM tickers").fetchone()[0]
    finally:
        conn.close()
    assert [g for g in gaps if g[1].startswith(f"book resync {SYMBOL}")] == [("okx", gaps[0][1])], (
        gaps
    )
    assert books >= 80 and ticks > 0
