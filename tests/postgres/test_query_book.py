"""`arbot query book` on SQLite and PostgreSQL alike: the stored book at a time, bids and
asks side by side with its stored time (or JSON); one line when none is stored by then; an
unknown exchange or symbol is a usage error naming the known ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbot.cli import main
from arbot.errors import EXIT_USAGE
from arbot.metrics import Metrics
from arbot.models import Book
from tests.postgres.backends import Backend

T0 = 1_723_118_400.0  # 2024-08-08T12:00:00Z


@pytest.fixture
def config(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    text = f'[storage]\nbackend = "{backend.name}"\ndata_dir = "{backend.data_dir}"\n'
    if backend.pg:
        text += f"[postgresql]\nconninfo = {json.dumps(backend.pg.conninfo)}\n"
    path = tmp_path / "arbot.toml"
    path.write_text(text)
    return path


async def store(backend: Backend, books: list[Book]) -> None:
    writer = backend.writer(Metrics())
    writer.add([], [], books)
    await writer.close()


BIDS = ((61234.5, 0.25), (61234.0, 1.5), (61230.1, 0.00012))
ASKS = ((61235.0, 0.8), (61240.0, 2.0))


async def test_the_book_as_stored_at_a_time(
    backend: Backend, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    later = Book("okx", "BTC/USDT", BIDS[1:], ASKS, T0 + 2.5, T0 + 2.512)
    await store(backend, [Book("okx", "BTC/USDT", BIDS, ASKS, T0, T0 + 0.02), later])
    cfg = ["--config", str(config), "--exchange", "okx", "--symbol", "BTC/USDT"]

    assert main(["query", "book", *cfg, "--at", "2024-08-08T12:00:01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "time (UTC)      2024-08-08T12:00:00.000Z" in out
    assert "received (UTC)  2024-08-08T12:00:00.020Z" in out
    table = out[out.index("") + 1 :]
    assert table[0].split() == ["bid", "amount", "bid", "ask", "ask", "amount"]
    assert [line.split() for line in table[2:]] == [
        ["0.25", "61234.5", "61235.0", "0.8"],
        ["1.5", "61234.0", "61240.0", "2.0"],
        ["0.00012", "61230.1", "-", "-"],
    ]

    assert main(["query", "book", *cfg, "--at", str(T0 + 3), "--levels", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["book"] == {
        "timestamp": T0 + 2.5,
        "received": pytest.approx(T0 + 2.512, abs=1e-6),
        "resync": False,
        "bids": [[61234.0, 1.5]],
        "asks": [[61235.0, 0.8]],
    }


async def test_none_stored_yet_and_unknown_names(
    backend: Backend, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await store(backend, [Book("okx", "BTC/USDT", BIDS, ASKS, T0, T0)])
    cfg = ["--config", str(config), "--symbol", "BTC/USDT"]

    assert main(["query", "book", *cfg, "--exchange", "okx", "--at", str(T0 - 1)]) == 0
    out = capsys.readouterr().out
    assert out == "no book of okx BTC/USDT stored at or before 2024-08-08T11:59:59.000Z\n"
    assert main(["query", "book", *cfg, "--exchange", "okx", "--at", str(T0 - 1), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["book"] is None

    assert main(["query", "book", *cfg, "--exchange", "kraken", "--at", str(T0)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown exchange 'kraken'" in err and "okx" in err
