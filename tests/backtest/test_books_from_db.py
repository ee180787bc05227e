"""`arbot backtest --from-db` of stored order books: a replay of a book file into a data
dir, backtested from the database, gives the signals and trades of `arbot backtest` of the
file; a range starting mid-way rebuilds each key from its last snapshot before it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from arbot.cli import main
from arbot.models import Book, Tick
from arbot.recorded import open_quote_file, stored_items
from arbot.replay import replay
from arbot.storage.books import SNAPSHOT_SECONDS
from arbot.storage.schema import open_database
from arbot.storage.sqlite.books_sql import books_in_range
from arbot.venues import params_for_data
from tests.replay.books import T0_US, VENUES, random_books, write_wide
from tests.replay.test_book_replay import FEE, SIZES, book_settings

T0 = T0_US / 1e6
TRADES = """SELECT symbol, buy_exchange, sell_exchange, signal_time, quantity, planned_profit,
    actual_profit, fees_paid, status, error_message FROM backtest_trades ORDER BY id"""


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


def config(path: Path, data_dir: Path, storage: str = "") -> Path:
    """book_settings as a config file, with paper balances for the backtests; `storage`:
    more of the config's storage (PostgreSQL's)."""
    text = f'[storage]\ndata_dir = "{data_dir}"\n{storage}'
    text += "[detector]\nmin_profit_percent = 0.0\nhysteresis_percent = 0.0\n"
    text += f"sizes = {SIZES}\ncooldown = 0.2\nimprove_step_percent = 0.01\n"
    text += "[paper]\nlatency_ms = 0\n"
    for venue in VENUES:
        text += f"[paper.balances.{venue}]\nUSDT = 100000.0\nBTC = 100.0\n"
    for venue in VENUES:
        text += f'[[exchanges]]\nid = "{venue}"\nsymbols = ["BTC/USDT"]\ntaker_fee = {FEE}\n'
        text += "min_trade_amount = 0\nmax_trade_amount = 1e12\n"
    path.write_text(text)
    return path


def backtest(capsys: pytest.CaptureFixture[str], cfg: Path, *argv: str) -> dict[str, Any]:
    assert main(["backtest", *argv, "--config", str(cfg), "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)["runs"]
    return {k: v for k, v in run.items() if k != "run"}


def stored_trades(data_dir: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(data_dir / "backtest.db")) as conn:
        return conn.execute(TRADES).fetchall()


def replay_into(data_dir: Path, path: Path) -> None:
    s = book_settings(data_dir)
    source = open_quote_file(path)
    params, _ = params_for_data(s.exchanges, source.exchanges)
    asyncio.run(replay(source, s, params))


def test_backtest_from_db_equals_backtest_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Books stored by a replay (snapshots and deltas), read back with the stored ticks in
    the engine's order: the same ticks, signals, episodes and trades as the file's."""
    path = write_wide(tmp_path / "books.csv", random_books(1500))
    replay_into(tmp_path / "daemon", path)
    with closing(sqlite3.connect(tmp_path / "daemon" / "arbot.db")) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM books GROUP BY kind").fetchall())
    assert kinds[0] > 100 and kinds[1] >= 2  # deltas, and snapshots past the first ones

    file_cfg = config(tmp_path / "file.toml", tmp_path / "file")
    db_cfg = config(tmp_path / "db.toml", tmp_path / "db")
    from_file = backtest(capsys, file_cfg, str(path))
    window = ["--from", str(T0), "--to", str(T0 + 1000)]
    from_db = backtest(capsys, db_cfg, "--from-db", str(tmp_path / "daemon"), *window)
    assert from_file["signals"] > 10 and from_file["filled"] > 0
    assert from_db == {**from_file, "status": "completed"}
    assert stored_trades(tmp_path / "db") == stored_trades(tmp_path / "file")


def test_a_range_from_mid_way_rebuilds_each_book_from_its_snapshot(
    tmp_path: Path,
) -> None:
    """From a time past a snapshot period: the books handed on are the file's from then
    on, their levels rebuilt from the snapshot before through the deltas; each key's first
    is marked resync and comes after its top as a tick, whether or not one was stored."""
    path = write_wide(tmp_path / "books.csv", random_books(1500))
    replay_into(tmp_path / "daemon", path)
    start, end = T0 + SNAPSHOT_SECONDS + 10, T0 + 120
    fed = [b for b in open_quote_file(path).ticks() if isinstance(b, Book)]
    expected = [b for b in fed if start <= b.timestamp < end]
    with closing(open_database(tmp_path / "daemon", "arbot", readonly=True)) as conn:
        got = list(books_in_range(conn, start, end))
    assert len(got) == len(expected) > 100
    assert [b[:5] for b in got] == [b[:5] for b in expected]
    firsts = {b.exchange: i for i, b in reversed(list(enumerate(got)))}
    assert sorted(firsts) == list(VENUES)
    assert {i for i, b in enumerate(got) if b.resync} == set(firsts.values())

    # No stored tick at a first book's instant: its top comes first all the same.
    items = list(stored_items([], got))
    tops = [i for i in items if isinstance(i, Tick)]
    assert len(tops) == 2 and all(items[items.index(t) + 1].timestamp == t.timestamp for t in tops)
    assert [(t.bid, t.ask) for t in tops] == [
        (got[i].bids[0][0], got[i].asks[0][0]) for i in sorted(firsts.values())
    ]
