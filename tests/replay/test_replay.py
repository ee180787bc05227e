"""`arbot replay`: a CSV of quotes through the engine and writer on the file's clock."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from arbot.cli import replay as replay_cli
from arbot.errors import DatabaseError, InputError
from arbot.metrics import Metrics
from arbot.models import BalanceRow
from arbot.recorded import open_quote_file
from arbot.records import BalanceSnapshot, EpisodesOpen, OpenEpisodeState
from arbot.replay import replay
from arbot.settings import Settings, parse_settings
from arbot.storage.lockfile import acquire_daemon_lock
from arbot.storage.sqlite.writer import Writer
from arbot.venues import params_for_data

HEADER = ["ts", "exchange", "symbol", "bid", "bid_size", "ask", "ask_size"]
START = 1_723_161_254.0


def quotes(n: int = 3000, seed: int = 3) -> list[list[Any]]:
    """Two venues around a common random walk; venue b drifts ±0.3 % away now and then,
    so that opportunities open, improve and close in both directions."""
    rng = random.Random(seed)
    mid, dislocation, t = 100.0, 0.0, START
    rows: list[list[Any]] = []
    for i in range(n):
        t += rng.choice([0.01, 0.05, 0.2])
        mid *= 1 + rng.gauss(0, 0.0002)
        if i % 200 == 0:
            dislocation = rng.choice([-0.003, 0.0, 0.003])
        venue = rng.choice(["a", "b"])
        m = mid * (1 + dislocation) if venue == "b" else mid
        rows.append(
            [
                round(t, 3),
                venue,
                "BTC/USDT",
                round(m - 0.01, 4),
                rng.choice([0.5, 2.0]),
                round(m + 0.01, 4),
                rng.choice([0.5, 2.0]),
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def settings_for(data_dir: Path, **detector: Any) -> Settings:
    return parse_settings({"storage": {"data_dir": str(data_dir)}, "detector": detector}, "test")


def stored(data_dir: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    conn = sqlite3.connect(data_dir / "arbot.db")
    try:
        signals = conn.execute("SELECT * FROM arbitrage_signals ORDER BY id").fetchall()
        episodes = conn.execute(
            "SELECT episode_key, symbol, buy_exchange, sell_exchange, opened_at, closed_at,"
            " peak_profit_percent, updates, signals, close_reason, created_at"
            " FROM signal_episodes ORDER BY id"
        ).fetchall()
        ticks = conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
    finally:
        conn.close()
    return signals, episodes, ticks


async def _run(csv_path: Path, data_dir: Path, store: bool = True) -> Any:
    s = settings_for(data_dir)
    source = open_quote_file(csv_path)
    params, _ = params_for_data(s.exchanges, source.exchanges)
    return await replay(source, s, params, store=store)


async def test_same_file_and_settings_give_the_same_rows(tmp_path: Path) -> None:
    """Two replays into fresh data dirs store identical signals and episodes; the file's
    timestamps in milliseconds, or its rows shuffled, give the same result as in seconds."""
    rows = quotes()
    in_seconds = write_csv(tmp_path / "s.csv", rows)
    in_ms = write_csv(tmp_path / "ms.csv", [[round(r[0] * 1000), *r[1:]] for r in rows])
    shuffled = write_csv(tmp_path / "x.csv", random.Random(5).sample(rows, len(rows)))
    first = await _run(in_seconds, tmp_path / "one")
    await _run(in_seconds, tmp_path / "two")
    await _run(in_ms, tmp_path / "three")
    await _run(shuffled, tmp_path / "four")
    one, two, three, four = (stored(tmp_path / d) for d in ("one", "two", "three", "four"))
    assert one == two == three == four
    signals, episodes, ticks = one
    assert ticks == first.ticks == first.stored == len(rows)
    assert len(signals) == first.signals > len(episodes) == len(first.episodes) > 5
    assert {e[2:4] for e in episodes} == {("a", "b"), ("b", "a")}
    assert all(s[13] >= START for s in signals)  # `timestamp` is the file's clock


async def test_a_file_already_replayed_into_a_data_dir_is_refused(tmp_path: Path) -> None:
    """Its signals would be stored twice; another data dir or --no-store still works."""
    path = write_csv(tmp_path / "q.csv", quotes(200))
    await _run(path, tmp_path / "d")
    before = stored(tmp_path / "d")
    with pytest.raises(InputError, match=rf"{path}: already replayed into .*arbot\.db"):
        await _run(path, tmp_path / "d")
    assert stored(tmp_path / "d") == before
    await _run(path, tmp_path / "d", store=False)
    await _run(path, tmp_path / "other")


async def test_the_same_quotes_in_another_encoding_are_refused_too(tmp_path: Path) -> None:
    """A replay is identified by its decoded quotes: gzipped, with epoch-ms stamps or with
    its rows shuffled, the file is the same replay and stores nothing more (exit 2)."""
    rows = quotes(400)
    first = write_csv(tmp_path / "q.csv", rows)
    await _run(first, tmp_path / "d")
    before = stored(tmp_path / "d")
    assert before[0], "the quotes must produce signals"
    packed = tmp_path / "q.csv.gz"
    packed.write_bytes(gzip.compress(first.read_bytes()))
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    others = [
        packed,
        write_csv(tmp_path / "ms.csv", [[round(r[0] * 1000), *r[1:]] for r in rows]),
        write_csv(tmp_path / "shuffled.csv", shuffled),
    ]
    for other in others:
        with pytest.raises(InputError, match=rf"{other}: already replayed into .*arbot\.db"):
            await _run(other, tmp_path / "d")
        assert stored(tmp_path / "d") == before, other


async def test_quotes_overlapping_stored_ticks_are_refused_before_writing(
    tmp_path: Path,
) -> None:
    """Other quotes of the same venues and time (another cut of the recording, or the same
    quotes under another config) would collide with the stored episodes: refused, naming the
    venue, symbol and span, nothing written; the rest of the day replays."""
    rows = quotes(600)
    await _run(write_csv(tmp_path / "a.csv", rows[:400]), tmp_path / "d")
    before = stored(tmp_path / "d")
    overlapping = write_csv(tmp_path / "b.csv", rows[300:])
    with pytest.raises(InputError, match=r"b\.csv: .*arbot\.db already holds a BTC/USDT ticks"):
        await _run(overlapping, tmp_path / "d")
    assert stored(tmp_path / "d") == before
    await _run(write_csv(tmp_path / "c.csv", rows[400:]), tmp_path / "d")
    assert stored(tmp_path / "d")[2] > before[2]


async def test_open_episodes_close_at_end_of_input(tmp_path: Path) -> None:
    rows = [
        [START, "a", "BTC/USDT", 99.9, 1, 100.0, 1],
        [START + 1, "b", "BTC/USDT", 101, 1, 101.1, 1],
    ]
    summary = await _run(write_csv(tmp_path / "q.csv", rows), tmp_path / "d", store=False)
    [ep] = summary.episodes
    assert (ep.close_reason, ep.closed_at, summary.signals) == ("end_of_input", START + 1, 1)
    assert not (tmp_path / "d").exists()  # store=False writes nothing


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([START, "a", "BTC/USDT", "x", 1, 100, 1], ":3: bad quote row"),
        ([START, "a", "BTC/USDT", 101, 1, 100, 1], "0 < bid <= ask"),
        ([START, "", "BTC/USDT", 99, 1, 100, 1], "need an exchange"),
        ([START, "a", "BTCUSDT", 99, 1, 100, 1], "unified symbol"),
        ([START, "a", "BTC/USDT", 99, -1, 100, 1], "non-negative"),
    ],
)
def test_bad_row_is_reported_with_its_line_and_nothing_runs(
    tmp_path: Path, row: list[Any], message: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", [[START, "a", "BTC/USDT", 99, 1, 100, 1], row])
    with pytest.raises(InputError, match=message) as err:
        open_quote_file(path)
    assert f"{path}:3:" in str(err.value)


def test_missing_column_and_missing_file_are_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "h.csv", [], header=["ts", "exchange", "symbol", "bid", "ask"])
    with pytest.raises(InputError, match="lacks column\\(s\\) bid_size, ask_size"):
        open_quote_file(path)
    with pytest.raises(InputError, match=r"nope\.csv: cannot read"):
        open_quote_file(tmp_path / "nope.csv")


def test_params_defaults_for_exchanges_only_in_the_file(tmp_path: Path) -> None:
    """Exchanges the config does not name get an [[exchanges]] entry's defaults (and are
    reported as defaulted); configured ones keep their settings."""
    bare, defaulted = params_for_data(settings_for(tmp_path).exchanges, ["a", "b"])
    assert {n: (p.taker_fee, p.premium_baseline) for n, p in bare.items()} == {
        "a": (0.001, 0.0),
        "b": (0.001, 0.0),
    }
    assert defaulted == ["a", "b"]
    configured = parse_settings(
        {
            "exchanges": [
                {"id": "binance", "name": "a", "symbols": ["BTC/USDT"], "taker_fee": 0.002}
            ]
        },
        "test",
    )
    params, defaulted = params_for_data(configured.exchanges, ["a", "b"])
    assert {n: p.taker_fee for n, p in params.items()} == {"a": 0.002, "b": 0.001}
    assert defaulted == ["b"]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="arbot")
    replay_cli.register({"root": parser.add_subparsers(dest="command", required=True)})
    args = parser.parse_args(["replay", *argv])
    return int(args.handler(args))


def test_cli_prints_summary_and_top_opportunities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    path = write_csv(tmp_path / "q.csv", quotes())
    assert _cli(str(path), "--data-dir", str(tmp_path / "d"), "--config", _config(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "ticks" in out and "top 5 opportunities" in out
    # b is in the file but not in the config: it runs with the defaults, and says so
    assert re.search(r"^a +0\.050* +config *$", out, re.M)
    assert re.search(r"^b +0\.10* +defaults \(not in config\) *$", out, re.M)

    assert (
        _cli(
            str(path),
            "--no-store",
            "--json",
            "--top",
            "2",
            "--config",
            _config(tmp_path, with_b=True),
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["ticks"] == 3000 and report["database"] is None
    assert report["signals"] > 0 and len(report["top"]) == 2
    assert report["top"][0]["peak_percent"] >= report["top"][1]["peak_percent"]
    assert [(f["exchange"], f["from"]) for f in report["fees"]] == [
        ("a", "config"),
        ("b", "config"),
    ]


def _config(tmp_path: Path, with_b: bool = False) -> str:
    path = tmp_path / ("b.toml" if with_b else "a.toml")
    venues = ["a", "b"] if with_b else ["a"]
    path.write_text(
        "[storage]\n"
        f'data_dir = "{tmp_path / "unused"}"\n'
        + "".join(
            f'[[exchanges]]\nid = "binance"\nname = "{v}"\nsymbols = ["BTC/USDT"]\n'
            "taker_fee = 0.0005\nmin_trade_amount = 0\n"
            for v in venues
        )
    )
    return str(path)


async def test_a_replay_is_refused_while_the_data_dirs_daemon_runs(tmp_path: Path) -> None:
    """Both would hand out the same signal and trade ids."""
    path = write_csv(tmp_path / "q.csv", quotes(200))
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    with (
        acquire_daemon_lock(data_dir),
        pytest.raises(DatabaseError, match="held by a running arbot process"),
    ):
        await _run(path, data_dir)
    assert stored(data_dir) == ([], [], 0)
    await _run(path, data_dir)  # the daemon stopped
    assert stored(data_dir)[2] == 200


async def test_a_replay_leaves_what_the_daemon_resumes_from(tmp_path: Path) -> None:
    """The open episodes and paper balances a stopped daemon left are neither cleared nor
    replaced by a replay's (with paper trading on, the replay still stores its trades)."""
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    left = OpenEpisodeState(
        "BTC/USDT|a|b|1", "BTC/USDT", "a", "BTC/USDT", "b", "BTC/USDT",
        START - 10, 0.4, 3, 2, 0.3, START - 9,
    )  # fmt: skip
    writer = Writer.open(settings_for(data_dir).storage, Metrics())
    writer.add(
        [],
        [EpisodesOpen((left,)), BalanceSnapshot((BalanceRow("a", "USDT", 777.0, 0.0),), START)],
    )
    await writer.close()
    before = Writer.open(settings_for(data_dir).storage, Metrics())
    resume = before.resume_state()
    await before.close()
    s = parse_settings({"storage": {"data_dir": str(data_dir)}, "paper": {"enabled": True}}, "test")
    source = open_quote_file(write_csv(tmp_path / "q.csv", quotes(3000)))
    summary = await replay(source, s, params_for_data(s.exchanges, source.exchanges)[0])
    after = Writer.open(s.storage, Metrics())
    assert after.resume_state().episodes == resume.episodes == (left,)
    assert after.resume_state().balances == resume.balances == {"a": {"USDT": 777.0}}
    await after.close()
    conn = sqlite3.connect(data_dir / "arbot.db")
    trades = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
    conn.close()
    assert summary.signals > 0 and trades > 0
