"""Last stored receive time per exchange: what a restarted daemon reports as its outage."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers import fast_storage

from arbot.metrics import Metrics
from arbot.models import Tick
from arbot.storage.gaps import last_receive_times
from arbot.storage.schema import open_database
from arbot.storage.sqlite.writer import Writer


async def test_newest_receive_time_per_exchange_over_its_symbols(
    data_dir: Path, metrics: Metrics
) -> None:
    """The newest tick of any configured symbol wins; an exchange with none gets None,
    and a symbol the exchange never stored is ignored."""
    writer = Writer.open(fast_storage(data_dir), metrics)
    writer.add(
        [
            Tick("binance", "BTC/USDT", 1.0, 1.1, 1.0, 1.0, 100.0, 100.25),
            Tick("binance", "ETH/USDT", 1.0, 1.1, 1.0, 1.0, 105.0, 105.5),
            Tick("okx", "BTC/USDT", 1.0, 1.1, 1.0, 1.0, 110.0, 110.125),
            Tick("binance", "BTC/USDT", 1.0, 1.1, 1.0, 1.0, 90.0, 90.0),
        ]
    )
    await writer.flush()
    await writer.close()
    conn = open_database(data_dir, "arbot", readonly=True)
    try:
        times = last_receive_times(
            conn,
            {
                "binance": ("BTC/USDT", "ETH/USDT"),
                "okx": ("BTC/USDT", "SOL/USDT"),
                "kraken": ("BTC/USDT",),
            },
        )
    finally:
        conn.close()
    assert times["binance"] == pytest.approx(105.5)
    assert times["okx"] == pytest.approx(110.125)
    assert times["kraken"] is None
