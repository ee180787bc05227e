"""What the daemon-process scenarios share: the venues, the load, the config and the
checks of stored data (nothing lost, nothing invalid stored)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.reliability.config import daemon_doc, exchange, free_port, write_config
from tests.reliability.datadir import scalar
from tests.reliability.fakes import FakeMarket

# Quotes per second per symbol each fake sends: "full rate" for 2 cores shared by the fakes
# and the daemon. ccxt keeps only the latest quote per symbol between two watch calls, so
# the daemon receives a fraction of what is sent.
RATE = float(os.environ.get("ARBOT_RELIABILITY_RATE", "1000"))
# Venues whose stored keys are unique (receive-time stamps), so stored rows == committed.
COUNTED_VENUES = ("binance:binance", "kraken:kraken", "binance2:binance")


def write_daemon_config(
    tmp: Path, data_dir: Path, fakes: FakeMarket, **sections: Mapping[str, Any]
) -> tuple[Path, int]:
    """A config with every fake as an exchange; returns (path, metrics port)."""
    port = free_port()
    exchanges = [exchange(name, fakes.ccxt_ids[name], url) for name, url in fakes.urls.items()]
    doc = daemon_doc(data_dir, exchanges, port, **sections)
    return write_config(tmp / "arbot.toml", doc), port


def stored_ticks(data_dir: Path) -> int:
    return int(str(scalar(data_dir / "arbot.db", "SELECT count(*) FROM ticks")))


def invalid_stored(data_dir: Path) -> int:
    """Stored ticks no validation should let through: crossed, non-positive, negative
    sizes, stamped more than 5 s ahead of receipt or more than 120 s behind it."""
    return int(
        str(
            scalar(
                data_dir / "arbot.db",
                "SELECT count(*) FROM tick_values WHERE bid > ask OR bid <= 0 OR ask <= 0"
                " OR bid_size < 0 OR ask_size < 0 OR bid IS NULL OR ask IS NULL"
                " OR recv_delta_ms < -5000 OR recv_delta_ms > 120000",
            )
        )
    )


def market(venues: Sequence[str] = COUNTED_VENUES, **kw: Any) -> FakeMarket:
    return FakeMarket(venues, RATE, **kw)
