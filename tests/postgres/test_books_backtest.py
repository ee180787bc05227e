"""`arbot backtest --from-db` of order books stored in PostgreSQL: the same books, in the
same order, as from SQLite, and the same signals and trades as `arbot backtest` of the
book file that was replayed into it."""

from __future__ import annotations

import asyncio
import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.settings import PostgresSettings
from arbot.storage.books import SNAPSHOT_SECONDS
from arbot.storage.pg import books_sql as pg_books
from arbot.storage.pg.connect import connect
from arbot.storage.schema import open_database
from arbot.storage.sqlite import books_sql as sqlite_books
from arbot.venues import params_for_data
from tests.backtest.test_books_from_db import T0, TRADES, backtest, config, stored_trades
from tests.postgres.test_replay_backtest import both, settings_of
from tests.replay.books import random_books, write_wide
from tests.replay.test_book_replay import book_settings


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)


def test_backtest_of_books_from_postgresql(
    tmp_path: Path, pg_settings: PostgresSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file replayed into each backend; PostgreSQL's books of a range starting past a
    snapshot period equal SQLite's (rebuilt through the deltas before it); the backtest
    from PostgreSQL gives the file backtest's signals, episodes and trades."""
    path = write_wide(tmp_path / "books.csv", random_books(1500))
    sections: dict[str, Any] = book_settings(tmp_path).model_dump(
        mode="json", include={"exchanges", "detector"}
    )
    sqlite, pg = both(tmp_path, pg_settings)
    for backend in (sqlite, pg):
        settings = settings_of(backend, **sections)
        source = open_quote_file(path)
        params, _ = params_for_data(settings.exchanges, source.exchanges)
        asyncio.run(replay(source, settings, params))

    start, end = T0 + SNAPSHOT_SECONDS + 10, T0 + 120
    with closing(open_database(sqlite.data_dir, "arbot", readonly=True)) as conn:
        from_sqlite = list(sqlite_books.books_in_range(conn, start, end))
    with connect(pg_settings) as pg_conn:
        from_pg = list(pg_books.books_in_range(pg_conn, start, end))
        assert pg_books.count_books(pg_conn, start, end) == len(from_pg)
    assert from_pg == from_sqlite and len(from_pg) > 100

    storage = (
        f'backend = "postgresql"\n[postgresql]\nconninfo = {json.dumps(pg_settings.conninfo)}\n'
    )
    pg_cfg = config(tmp_path / "pg.toml", pg.data_dir, storage)
    file_cfg = config(tmp_path / "file.toml", tmp_path / "file")
    from_file = backtest(capsys, file_cfg, str(path))
    window = ["--from", str(T0), "--to", str(T0 + 1000)]
    from_db = backtest(capsys, pg_cfg, "--from-db", *window)
    assert from_file["signals"] > 10 and from_file["filled"] > 0
    assert from_db == {**from_file, "status": "completed"}
    assert [tuple(r) for r in pg.rows(TRADES)] == stored_trades(tmp_path / "file")
