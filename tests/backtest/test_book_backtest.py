"""`arbot backtest` of order-book files: the same signals and paper trades as a replay
with paper trading of the same file, in each layout."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from arbot.backtest import run_backtest
from arbot.cli import main
from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.storage.backtests import run_trades
from arbot.venues import params_for_data
from tests.replay.books import random_books, write_incremental, write_snapshot, write_wide
from tests.replay.test_book_replay import book_settings

PAPER = {
    "enabled": True,
    "latency_ms": 0,
    "balances": {v: {"USDT": 100_000.0, "BTC": 100.0} for v in ("a", "b")},
}


@pytest.mark.parametrize("layout", ["wide", "snapshot", "incremental"])
async def test_backtest_equals_replay(tmp_path: Path, layout: str) -> None:
    write = {"wide": write_wide, "snapshot": write_snapshot, "incremental": write_incremental}
    path = write[layout](tmp_path / "books.csv", random_books())
    s = book_settings(tmp_path / "replay", **PAPER)
    params, _ = params_for_data(s.exchanges, open_quote_file(path).exchanges)
    summary = await replay(open_quote_file(path), s, params)
    conn = sqlite3.connect(tmp_path / "replay" / "arbot.db")
    try:
        _, replay_trades = run_trades(conn)
    finally:
        conn.close()
    result = await run_backtest(s, open_quote_file(path).ticks(), params)
    assert summary.books > 0 and summary.signals > 10
    assert any(t.status == "completed" for t in replay_trades)
    assert result.signals == summary.signals and result.episodes == len(summary.episodes)
    assert result.trade_rows == replay_trades
    assert result.ticks == summary.ticks


def test_backtest_cli_reads_books_and_takes_depth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    path = write_snapshot(tmp_path / "snap.csv", random_books(300))
    runs = []
    for depth in ("10", "1"):
        code = main([
            "backtest", str(path), "--data-dir", str(tmp_path / "d"), "--json",
            "--depth", depth, "--set", "detector.min_profit_percent=0.05",
        ])  # fmt: skip
        assert code == 0
        runs.append(json.loads(capsys.readouterr().out)["runs"][0])
    # The same ticks (the tops do not depend on the depth kept), but trades through ten
    # levels make more than through the top level alone.
    assert runs[0]["ticks"] == runs[1]["ticks"] > 0
    assert runs[0]["signals"] > 0 and runs[1]["signals"] > 0
    assert runs[0]["profit"] > runs[1]["profit"] > 0
    assert main(["backtest", "--from-db", str(tmp_path / "d"), "--depth", "2"]) == 2
