"""`arbot replay` and `arbot backtest` with storage.backend = "postgresql": the same engine
and the same data give the same rows as on SQLite (ids in the shard's range), a file is
refused the second time, `--from-db` reads the server in SQLite's order, results go to the
server's backtest tables, and bad input exits with the same codes."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from arbot.cli import main
from arbot.errors import EXIT_DATABASE, EXIT_USAGE, DatabaseError
from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.settings import PostgresSettings, Settings, parse_settings
from arbot.storage import backtests as sqlite_ticks
from arbot.storage.pg import ticks as pg_ticks
from arbot.storage.pg.connect import connect
from arbot.storage.pg.records_sql import ID_RANGE_BITS
from arbot.storage.pg.shard import shard_of
from arbot.storage.pg.writer import PgWriter
from arbot.venues import params_for_data
from tests.backtest.data import T0
from tests.backtest.data import quotes as market
from tests.helpers import read
from tests.postgres.backends import Backend
from tests.replay.test_replay import quotes, write_csv

# Shard 0's engine ids start here; SQLite's at 1.
PG_FIRST_ID = 1 << ID_RANGE_BITS
BALANCES = {"a": {"USDT": 100_000.0, "BTC": 10.0}, "b": {"USDT": 100_000.0, "BTC": 10.0}}

SIGNALS = """SELECT id, symbol, buy_exchange, sell_exchange, buy_price, sell_price, profit,
    profit_percent, buy_size, sell_size, confidence, trend_direction, executed, timestamp,
    created_at FROM arbitrage_signals ORDER BY id"""
EPISODES = """SELECT episode_key, symbol, buy_exchange, sell_exchange, opened_at, closed_at,
    duration, peak_profit_percent, updates, signals, close_reason, created_at
    FROM signal_episodes ORDER BY id"""
TRADES = """SELECT id, signal_id, symbol, buy_exchange, sell_exchange, buy_order_id,
    sell_order_id, planned_buy_price, planned_sell_price, actual_buy_price, actual_sell_price,
    quantity, planned_profit, actual_profit, fees_paid, slippage, status, error_message,
    started_at, completed_at FROM trades ORDER BY id"""
TICKS = """SELECT timestamp, exchange, symbol, bid, ask, bid_size, ask_size FROM tickers
    ORDER BY timestamp, exchange, symbol"""
BALANCE_ROWS = """SELECT exchange, asset, free_balance, locked_balance, timestamp FROM balances
    ORDER BY timestamp, exchange, asset"""
REPLAYS = "SELECT sha256, file, ticks, signals FROM replays ORDER BY file"


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


def settings_of(backend: Backend, **sections: Any) -> Settings:
    doc: dict[str, Any] = {"storage": {"data_dir": str(backend.data_dir)}, **sections}
    if backend.pg is not None:
        doc["storage"]["backend"] = "postgresql"
        doc["postgresql"] = backend.pg.model_dump(mode="json", exclude_defaults=True)
    return parse_settings(doc, "test")


def toml_of(path: Path, backend: Backend) -> Path:
    """A config file for the CLI: `backend`'s storage."""
    text = f'[storage]\ndata_dir = "{backend.data_dir}"\n'
    if backend.pg is not None:
        text += (
            f'backend = "postgresql"\n[postgresql]\nconninfo = {json.dumps(backend.pg.conninfo)}\n'
        )
    path.write_text(text)
    return path


def both(tmp_path: Path, pg: PostgresSettings) -> tuple[Backend, Backend]:
    return Backend("sqlite", tmp_path / "sqlite", None), Backend("postgresql", tmp_path / "pg", pg)


def _value(v: object) -> object:
    """PostgreSQL's types as SQLite returns them: booleans as 0/1, timestamps as the
    'YYYY-MM-DD HH:MM:SS.fff' text the engine writes."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return v


def _sqlite_id(v: object) -> object:
    """An engine id of shard 0 as SQLite numbers it (also inside paper order ids)."""
    if isinstance(v, int):
        return v - PG_FIRST_ID + 1
    if isinstance(v, str):
        return re.sub(r"\d+", lambda m: str(int(m[0]) - PG_FIRST_ID + 1), v)
    return v


_TRADE_IN_TEXT = re.compile(r"\btrade (\d+) took")


def _sqlite_trade(match: re.Match[str]) -> str:
    return f"trade {_sqlite_id(int(match[1]))} took"


def rows(backend: Backend, sql: str, id_columns: tuple[int, ...] = ()) -> list[tuple[object, ...]]:
    """`sql`'s rows with PostgreSQL's values as SQLite's, engine ids in `id_columns`
    counted from 1 as on SQLite."""
    out = []
    for row in backend.rows(sql):
        values = [_value(v) for v in row]
        if backend.pg is not None:
            values = [_sqlite_id(v) if i in id_columns else v for i, v in enumerate(values)]
            # A failure reason names the trade that took a quote's size.
            values = [
                _TRADE_IN_TEXT.sub(_sqlite_trade, v) if isinstance(v, str) else v for v in values
            ]
        out.append(tuple(values))
    return out


def stored(backend: Backend) -> dict[str, list[tuple[object, ...]]]:
    return {
        "signals": rows(backend, SIGNALS, (0,)),
        "episodes": rows(backend, EPISODES),
        "trades": rows(backend, TRADES, (0, 1, 5, 6)),
        "ticks": rows(backend, TICKS),
        "balances": rows(backend, BALANCE_ROWS),
        "replays": rows(backend, REPLAYS),
    }


async def replay_file(path: Path, settings: Settings) -> Any:
    source = open_quote_file(path)
    params, _ = params_for_data(settings.exchanges, source.exchanges)
    return await replay(source, settings, params)


async def test_replay_into_postgresql_stores_what_sqlite_stores(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    """Two files replayed one after the other (ids of the second continue the first's) with
    paper trading: every signal, episode, trade, tick and replay row is the same on both
    backends, PostgreSQL's ids offset into shard 0's range; neither writes balances (what a
    daemon resumes from)."""
    # The second file is the next day's: quotes overlapping stored ones are refused.
    one = quotes(2000, seed=3)
    two = [[r[0] + 86_400, *r[1:]] for r in quotes(2000, seed=4)]
    first, second = write_csv(tmp_path / "one.csv", one), write_csv(tmp_path / "two.csv", two)
    results = {}
    for backend in both(tmp_path, pg_settings):
        settings = settings_of(backend, paper={"enabled": True, "balances": BALANCES})
        summaries = [await replay_file(f, settings) for f in (first, second)]
        results[backend.name] = (stored(backend), [(s.ticks, s.signals) for s in summaries])
    sqlite, pg = results["sqlite"], results["postgresql"]
    assert pg == sqlite
    data, counts = pg
    assert counts[0][1] > 0 and counts[1][1] > 0
    assert len(data["signals"]) == counts[0][1] + counts[1][1]
    assert [s[0] for s in data["signals"]] == list(range(1, len(data["signals"]) + 1))
    assert len(data["trades"]) > 2 and len(data["episodes"]) > 5
    assert data["balances"] == []
    assert len(data["ticks"]) == len({(r[0], r[1], r[2]) for r in one + two})
    assert len(data["replays"]) == 2
    with connect(pg_settings) as conn:
        assert conn.execute("SELECT min(id) FROM arbitrage_signals").fetchall() == [(PG_FIRST_ID,)]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_file_is_replayed_into_postgresql_once(
    tmp_path: Path, pg_settings: PostgresSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second replay of the same content is refused as on SQLite (exit 2, one line
    naming the file and the database), nothing is written; --no-store still runs."""
    backend = Backend("postgresql", tmp_path / "data", pg_settings)
    cfg = str(toml_of(tmp_path / "arbot.toml", backend))
    path = write_csv(tmp_path / "q.csv", quotes(300))
    out = run_cli(capsys, "replay", str(path), "--config", cfg)
    assert re.fullmatch(r"PostgreSQL postgres/t_\d+", out["database"])
    assert out["stored_ticks"] == 300 and out["signals"] > 0
    before = stored(backend)
    assert main(["replay", str(path), "--config", cfg]) == EXIT_USAGE
    line = one_error_line(capsys)
    assert line.startswith(f"arbot: error: {path}: already replayed into {out['database']} at ")
    assert "use another database or schema (postgresql.conninfo), or --no-store" in line
    assert stored(backend) == before
    assert run_cli(capsys, "replay", str(path), "--config", cfg, "--no-store")["database"] is None
    assert stored(backend) == before


def with_ties(rows: list[tuple[float, str, str, float, float, float, float]]) -> list[Tick]:
    """The backtest market plus a third venue quoting BTC and ETH at okx's times and binance
    quoting ETH too, so that many ticks share a timestamp, and the order of exchanges and
    the order of symbols disagree on some (bybit ETH before okx BTC)."""
    ticks = []
    for ts, exchange, symbol, bid, bid_size, ask, ask_size in rows:
        ticks.append(Tick(exchange, symbol, bid, ask, bid_size, ask_size, ts, ts))
        if exchange == "okx":
            ticks.append(Tick("bybit", symbol, bid, ask + 0.01, 1.0, 1.0, ts, ts))
        eth_venue = "bybit" if exchange == "okx" else exchange
        ticks.append(Tick(eth_venue, "ETH/USDT", 3000.0, 3000.5, None, 2.0, ts, ts))
    random.Random(7).shuffle(ticks)
    return ticks


def write_ticks(backend: Backend, ticks: list[Tick]) -> None:
    backend.data_dir.mkdir(parents=True, exist_ok=True)

    async def write() -> None:
        writer = backend.writer(Metrics())
        writer.add(ticks)
        await writer.close()

    asyncio.run(write())


def test_backtest_from_db_on_postgresql_equals_sqlite(
    tmp_path: Path, pg_settings: PostgresSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same ticks in both backends: `--from-db` streams them in the same order (ties by
    exchange, then symbol) and the backtests' totals and trades are equal; PostgreSQL's
    results go to its backtest tables (no backtest.db); an empty range gives zero runs
    alike; `--from-db DIR` still reads that SQLite data dir."""
    ticks = with_ties(market())
    sqlite, pg = both(tmp_path, pg_settings)
    for backend in (sqlite, pg):
        write_ticks(backend, ticks)
    assert pg.pg is not None
    end = T0 + 10
    from_pg = list(pg_ticks.read_ticks(pg.pg, T0, end))
    assert from_pg == list(sqlite_ticks.read_ticks(sqlite.data_dir, T0, end))
    assert len(from_pg) == len(ticks) and from_pg[0].timestamp == T0
    assert [(t.exchange, t.symbol) for t in from_pg[:5]] == [
        ("bybit", "BTC/USDT"),
        ("bybit", "ETH/USDT"),
        ("okx", "BTC/USDT"),
        ("binance", "BTC/USDT"),
        ("binance", "ETH/USDT"),
    ]

    def backtest(backend: Backend, *extra: str) -> list[dict[str, Any]]:
        cfg = str(toml_of(tmp_path / f"{backend.name}.toml", backend))
        window = ["--from", str(T0), "--to", str(T0 + 5)]
        runs: list[dict[str, Any]] = run_cli(
            capsys, "backtest", "--from-db", *extra, *window, "--config", cfg
        )["runs"]
        return runs

    on_sqlite, on_pg = backtest(sqlite), backtest(pg)
    assert on_pg == on_sqlite
    [run] = on_pg
    assert run["status"] == "completed" and run["ticks"] == 250 and run["signals"] > 0
    assert run["trades"] > 0
    trades = "SELECT symbol, buy_exchange, sell_exchange, signal_time, quantity, planned_profit,"
    trades += " actual_profit, fees_paid, status, error_message FROM backtest_trades ORDER BY id"
    assert pg.rows(trades) == read(sqlite.data_dir, trades, "backtest")
    [(label, time_from, time_to)] = pg.rows("SELECT input, time_from, time_to FROM backtest_runs")
    assert re.fullmatch(r"PostgreSQL postgres/t_\d+", str(label))
    assert (time_from, time_to) == (T0, T0 + 5)
    assert not (pg.data_dir / "backtest.db").exists()

    assert backtest(pg, str(sqlite.data_dir)) == [{**run, "run": run["run"] + 1}]
    assert pg.rows("SELECT input FROM backtest_runs ORDER BY id")[1] == (
        f"{sqlite.data_dir}/arbot.db",
    )

    def empty(backend: Backend) -> list[dict[str, Any]]:
        cfg = str(toml_of(tmp_path / f"{backend.name}.toml", backend))
        window = ["--from", str(T0 + 100), "--to", str(T0 + 200)]
        runs: list[dict[str, Any]] = run_cli(
            capsys, "backtest", "--from-db", *window, "--config", cfg
        )["runs"]
        return [{k: v for k, v in r.items() if k != "run"} for r in runs]

    assert empty(pg) == empty(sqlite)
    assert [(r["ticks"], r["signals"], r["status"]) for r in empty(pg)] == [(0, 0, "completed")]


@pytest.fixture
def fresh_schema(pg_settings: PostgresSettings) -> PostgresSettings:
    """Settings of an empty schema nobody has migrated."""
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    with connect(pg_settings) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return PostgresSettings(
        conninfo=re.sub(r"search_path=\w+", f"search_path={name}", pg_settings.conninfo)
    )


def test_bad_input_exits_as_on_sqlite(
    tmp_path: Path, fresh_schema: PostgresSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad row (exit 2, nothing written), a bad range (2), ticks from a server with no
    schema yet (4, naming `arbot db init`), a server that cannot be reached (4): one line
    each, never a traceback."""
    backend = Backend("postgresql", tmp_path / "data", fresh_schema)
    cfg = ["--config", str(toml_of(tmp_path / "arbot.toml", backend))]
    bad = write_csv(tmp_path / "bad.csv", [[T0, "a", "BTC/USDT", 101, 1, 100, 1]])
    for command in ("replay", "backtest"):
        assert main([command, str(bad), *cfg]) == EXIT_USAGE
        assert f"{bad}:2:" in one_error_line(capsys)
    with connect(fresh_schema) as conn:  # the bad file was refused before anything ran
        assert conn.execute("SELECT to_regclass('replays')").fetchall() == [(None,)]
    assert main(["backtest", "--from-db", "--from", "2", "--to", "1", *cfg]) == EXIT_USAGE
    assert "must be after --from" in one_error_line(capsys)
    assert main(["backtest", "--from-db", "--from", "1", "--to", "2", *cfg]) == EXIT_DATABASE
    assert "run `arbot db init`" in one_error_line(capsys)

    gone = Backend("postgresql", tmp_path / "data", PostgresSettings(conninfo=f"host={tmp_path}"))
    cfg = ["--config", str(toml_of(tmp_path / "gone.toml", gone))]
    good = write_csv(tmp_path / "good.csv", quotes(50))
    assert main(["replay", str(good), *cfg]) == EXIT_DATABASE
    assert "postgresql: cannot connect" in one_error_line(capsys)
    assert main(["backtest", str(good), *cfg]) == EXIT_DATABASE
    assert "postgresql: cannot connect" in one_error_line(capsys)


async def test_a_replay_holds_its_shard_like_a_daemon(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    """Its engine allocates ids in the shard's range: while a daemon writes that shard the
    replay is refused (nothing written), once it stops the replay runs."""
    backend = Backend("postgresql", tmp_path / "data", pg_settings)
    settings = settings_of(backend)
    path = write_csv(tmp_path / "q.csv", quotes(300))
    daemon = PgWriter(pg_settings, Metrics())
    await asyncio.to_thread(daemon.resume_state)
    try:
        with pytest.raises(DatabaseError, match=r"shard 0/1 is already held"):
            await replay_file(path, settings)
    finally:
        await daemon.close()
    assert backend.rows("SELECT count(*) FROM replays") == [(0,)]
    assert backend.rows("SELECT count(*) FROM ticks") == [(0,)]
    assert (await replay_file(path, settings)).signals > 0
    assert backend.rows("SELECT count(*) FROM replays") == [(1,)]


async def test_a_shard_replay_stores_only_its_own_symbols(
    tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    """With [shard], a replay takes the symbols its daemon would: the other shard's are not
    stored under this shard's ids."""
    backend = Backend("postgresql", tmp_path / "data", pg_settings)
    symbols = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
    assert len({shard_of(s, 2) for s in symbols}) == 2  # both shards get some
    rows = [[*r[:2], symbol, *r[3:]] for r in quotes(200) for symbol in symbols]
    path = write_csv(tmp_path / "q.csv", rows)
    mine = shard_of("BTC/USDT", 2)
    settings = settings_of(backend, shard={"index": mine, "count": 2})
    await replay_file(path, settings)
    stored_symbols = {r[0] for r in backend.rows("SELECT DISTINCT symbol FROM tickers")}
    assert stored_symbols == {s for s in symbols if shard_of(s, 2) == mine}
