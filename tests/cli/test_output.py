"""What people read: tables fit 100 columns unless --wide, numbers are fixed-point, times
ISO 8601 UTC, a limit that cuts rows says so, and `query signals` lists the signals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.backtest.data import write_csv
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.cli import main
from arbot.cli.output import TABLE_WIDTH
from arbot.models import BookTrade, Signal
from arbot.records import SignalFound
from arbot.storage.schema import open_database
from arbot.storage.sqlite.records_sql import write_records

NOW = time.time()


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


@pytest.fixture
def filled(data_dir: Path) -> Path:
    conn = open_database(data_dir, "arbot")
    insert_ticks(conn, random_ticks(300, NOW - 1800, 1700, seed=5))
    for i, (symbol, buy, sell, pct) in enumerate(
        [
            ("BTC/USDT", "binance", "okx", 0.12),
            ("ETH/USDT", "okx", "kraken", 0.31),
            ("BTC/USDT", "kraken", "binance", 0.05),
        ]
    ):
        conn.execute(
            "INSERT INTO arbitrage_signals (symbol, buy_exchange, sell_exchange, buy_price,"
            " sell_price, profit, profit_percent, buy_size, sell_size, confidence, timestamp)"
            " VALUES (?, ?, ?, 100, 100.2, 0.4, ?, 2, 2, 0.8, ?)",
            (symbol, buy, sell, pct, NOW - 600 + i * 60),
        )
    conn.close()
    return data_dir


def test_spreads_fit_100_columns_unless_wide(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default table fits and names what it left out; --wide has every column."""
    dd = ["--data-dir", str(filled)]
    assert main(["query", "spreads", "--min-samples", "1", *dd]) == 0
    out, err = capsys.readouterr()
    assert max(len(line) for line in out.splitlines()) <= TABLE_WIDTH
    assert "avg %" in out and "e-0" not in out and "--wide" in err
    assert main(["query", "spreads", "--min-samples", "1", "--wide", *dd]) == 0
    out, err = capsys.readouterr()
    assert "stdev (quote)" in out and err == ""


def test_a_limit_that_cuts_rows_says_so(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = ["--data-dir", str(filled)]
    assert main(["query", "prices", "BTC/USDT", "binance", "--limit", "3", *dd]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 + 3 and "showing 3 rows" in err
    assert main(["query", "prices", "BTC/USDT", "binance", "--limit", "3", "--json", *dd]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is True


def test_signals_are_listed_newest_first_with_filters(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dd = ["--data-dir", str(filled), "--json"]
    assert main(["query", "signals", *dd]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [s["profit_percent"] for s in got["signals"]] == [0.05, 0.31, 0.12]
    assert got["totals"]["total_signals"] == 3
    assert main(["query", "signals", "--exchange", "okx", "--min-profit", "0.2", *dd]) == 0
    assert [s["symbol"] for s in json.loads(capsys.readouterr().out)["signals"]] == ["ETH/USDT"]
    assert main(["query", "signals", "--symbol", "BTC/USDT", "--since",
                 str(NOW - 650), *dd]) == 0  # fmt: skip
    assert [s["buy_exchange"] for s in json.loads(capsys.readouterr().out)["signals"]] == [
        "kraken", "binance"
    ]  # fmt: skip
    assert main(["query", "signals", "--data-dir", str(filled)]) == 0
    out = capsys.readouterr().out
    assert "net %" in out and "0.3100" in out and "Z " in out
    assert main(["query", "signals", "--exchange", "bitstamp", "--data-dir", str(filled)]) == 2
    assert "unknown exchange 'bitstamp'" in capsys.readouterr().err


def test_stats_and_prune_speak_human(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Sizes in KiB/MiB, the archive watermark as an ISO time."""
    dd = ["--data-dir", str(filled)]
    assert main(["db", "stats", *dd]) == 0
    assert " KiB" in capsys.readouterr().out
    old = open_database(filled, "arbot")
    insert_ticks(old, random_ticks(20, NOW - 10 * 86_400, 3600, seed=6))
    old.close()
    assert main(["db", "prune", *dd]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("archived_until"))
    assert line.split()[1].endswith(":00:00Z")


def test_replay_json_uses_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """close_reasons is a mapping reason -> count, the fees used a list of objects."""
    quotes = write_csv(tmp_path / "q.csv")
    assert main(["replay", str(quotes), "--no-store", "--json", "--data-dir", str(tmp_path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert isinstance(got["close_reasons"], dict) and got["episodes"] >= 1
    assert sum(got["close_reasons"].values()) == got["episodes"]
    assert {f["exchange"]: f["from"] for f in got["fees"]} == {
        "binance": "defaults (not in config)",
        "okx": "defaults (not in config)",
    }
    assert all(f["taker_fee_percent"] == 0.1 for f in got["fees"])


def test_rollup_table_has_units(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "rollup", "--date", "2024-08-08", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "profit (quote)" in out and "avg trade duration (s)" in out and "win rate %" in out


def test_signals_through_books_show_their_executable_trade(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A signal sized through order books: its quantity, VWAPs and net % at sizes, in
    JSON and in the wide table; a signal at the top of book has none."""
    books = Signal(
        "BTC/USDT", "okx", "binance", 100.0, 100.6, 0.1597, 0.3192, 0.3, 0.3, 0.8, "stable",
        NOW - 60, "k1", BookTrade(0.5, 100.0, 100.52, ((20.0, 0.399), (10_000.0, None))),
    )  # fmt: skip
    top = Signal(
        "BTC/USDT", "okx", "kraken", 100.0, 100.3, 0.2, 0.2, 1.0, 1.0, 0.9, "stable", NOW - 30, "k2"
    )
    conn = open_database(data_dir, "arbot")
    with conn:
        write_records(conn, [SignalFound(1, books), SignalFound(2, top)])
    conn.close()
    dd = ["--data-dir", str(data_dir)]
    assert main(["query", "signals", "--json", *dd]) == 0
    newest, found = json.loads(capsys.readouterr().out)["signals"]
    assert (newest["quantity"], newest["size_edges"]) == (None, None)
    assert (found["quantity"], found["buy_vwap"], found["sell_vwap"]) == (0.5, 100.0, 100.52)
    assert (found["profit"], found["profit_percent"]) == (0.1597, 0.3192)
    assert found["size_edges"] == [
        {"notional": 20.0, "edge_percent": 0.399},
        {"notional": 10_000.0, "edge_percent": None},
    ]
    assert main(["query", "signals", "--wide", *dd]) == 0
    out = capsys.readouterr().out
    assert "book qty" in out and "20:0.3990 10000:-" in out
