"""Backtests replay quotes through the engine (real detector and paper executor),
deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbot.backtest import run_backtest
from arbot.errors import InputError
from arbot.models import Tick
from arbot.recorded import open_quote_file
from arbot.settings import Settings
from arbot.storage.backtests import read_ticks
from arbot.storage.schema import open_database
from arbot.venues import params_for_data
from tests.backtest.data import T0, quotes, write_csv

PARAMS, _ = params_for_data(Settings().exchanges, ["okx", "binance"])


def read_csv(path: Path) -> list[Tick]:
    return [t for t in open_quote_file(path).ticks() if isinstance(t, Tick)]


async def test_lasting_opportunity_fills_and_vanishing_one_fails(tmp_path: Path) -> None:
    """The 3 s opportunity fills at the later quotes; the one-quote spike has vanished by
    the time the order lands, so its trade fails instead of booking the signal's profit."""
    r = await run_backtest(Settings(), read_csv(write_csv(tmp_path / "q.csv")), PARAMS)
    assert (r.ticks, r.signals, r.episodes, r.trades, r.successful_trades) == (200, 2, 2, 2, 1)
    lasting, spike = r.trade_rows
    assert (lasting.status, lasting.quantity) == ("completed", 1.5)
    fees = 1.5 * 100.0 * 0.001 + 1.5 * 100.64 * 0.001
    assert lasting.actual_profit == pytest.approx(1.5 * 0.64 - fees)
    assert r.total_profit == pytest.approx(1.5 * 0.64 - fees)
    assert spike.status == "failed" and spike.actual_profit is None
    assert spike.error_message is not None and spike.error_message.startswith("moved away")
    assert (r.win_rate, r.max_drawdown) == (1.0, 0.0)
    assert r.first_ts == T0
    assert r.last_ts == pytest.approx(T0 + 9.95)


async def test_same_input_and_settings_give_identical_results(tmp_path: Path) -> None:
    ticks = read_csv(write_csv(tmp_path / "q.csv"))
    assert await run_backtest(Settings(), ticks, PARAMS) == await run_backtest(
        Settings(), ticks, PARAMS
    )


async def test_millisecond_timestamps_are_recognised(tmp_path: Path) -> None:
    secs = read_csv(write_csv(tmp_path / "s.csv"))
    millis = read_csv(write_csv(tmp_path / "ms.csv", millis=True))
    assert [t.timestamp for t in millis] == pytest.approx([t.timestamp for t in secs])


async def test_paper_settings_reach_the_executor(tmp_path: Path) -> None:
    """No USDT on okx: every trade of the run fails as unfundable."""
    ticks = read_csv(write_csv(tmp_path / "q.csv"))
    funded = Settings.model_validate(
        {"paper": {"balances": {"okx": {"USDT": 0.0}, "binance": {"BTC": 9.0}}}}
    )
    r = await run_backtest(funded, ticks, PARAMS)
    assert r.successful_trades == 0
    assert all(t.error_message and "unfundable" in t.error_message for t in r.trade_rows)


async def test_csv_errors_name_the_file_and_line(tmp_path: Path) -> None:
    """A bad input file is a usage error (exit 2) naming file and line."""
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,exchange,symbol,bid,bid_size,ask,ask_size\n1,okx,BTC/USDT,2,1,1,1\n")
    with pytest.raises(InputError, match=r"bad\.csv:2: bad quote row: need 0 < bid <= ask"):
        read_csv(bad)
    short = tmp_path / "short.csv"
    short.write_text("ts,exchange,symbol,bid,ask\n")
    with pytest.raises(InputError, match=r"short\.csv: CSV header lacks column\(s\) bid_size"):
        read_csv(short)
    with pytest.raises(InputError, match=r"missing\.csv: cannot read"):
        read_csv(tmp_path / "missing.csv")


async def test_ticks_from_a_data_dir_are_replayed_in_the_range(data_dir: Path) -> None:
    """Recorded ticks (through the spec's `tickers` view) in [from, to) replay like the CSV."""
    conn = open_database(data_dir, "arbot")
    conn.executemany(
        "INSERT INTO tickers (timestamp, exchange, symbol, bid, bid_size, ask, ask_size)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        quotes(),
    )
    conn.close()
    ticks = list(read_ticks(data_dir, T0, T0 + 5.0))
    assert len(ticks) == 100 and ticks[0].timestamp == T0
    r = await run_backtest(Settings(), ticks, PARAMS)
    assert (r.signals, r.successful_trades) == (1, 1)
