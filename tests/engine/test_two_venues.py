"""Two venues' 1 s level-1 snapshots, both stamped with the same second: common jumps are
not opportunities, the real windows are found exactly, in either row order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from arbot.models import Tick
from arbot.recorded import open_quote_file
from arbot.replay import replay
from arbot.settings import Settings
from arbot.venues import params_for_data

from .helpers import write_csv

T0 = 1_760_000_000.0
FEE = 0.001  # 0.1 % taker on both: a cross must beat 0.2 % plus the threshold
WINDOWS = ((120, 126), (300, 303), (610, 640))  # seconds where venue b really is 0.5 % up


def snapshots(seconds: int = 900, seed: int = 7) -> tuple[list[Tick], list[Tick], set[int]]:
    """Venue a and b quote one pair every second; both jump together now and then (1 %);
    inside WINDOWS b's bid sits 0.5 % above a's ask. Returns a's rows, b's rows and the
    seconds where a net-positive cross exists."""
    rng = random.Random(seed)
    mid = 60_000.0
    a_rows, b_rows, real = [], [], set()
    for i in range(seconds):
        if rng.random() < 0.05:
            mid *= 1.01 if rng.random() < 0.5 else 0.99
        mid *= 1 + rng.uniform(-2e-5, 2e-5)
        t = T0 + i
        a_rows.append(Tick("a", "BTC/USDT", mid - 0.5, mid + 0.5, 1.0, 1.0, t, t))
        b_mid = mid * (1.005 if any(s <= i < e for s, e in WINDOWS) else 1.0)
        b_rows.append(Tick("b", "BTC/USDT", b_mid - 0.5, b_mid + 0.5, 1.0, 1.0, t, t))
        net = (b_mid - 0.5) * (1 - FEE) - (mid + 0.5) * (1 + FEE)
        if net > 0:
            real.add(i)
    return a_rows, b_rows, real


def config(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "exchanges": [
                {"id": name, "symbols": ["BTC/USDT"], "taker_fee": FEE, "maker_fee": FEE}
                for name in ("a", "b")
            ],
            "detector": {"min_profit_percent": 0.01, "hysteresis_percent": 0.0},
            "storage": {"data_dir": str(tmp_path / "data")},
        }
    )


@pytest.mark.parametrize("b_first", [False, True])
async def test_exactly_the_real_windows(tmp_path: Path, b_first: bool) -> None:
    a_rows, b_rows, real = snapshots()
    pairs = zip(a_rows, b_rows, strict=True)
    rows = [t for a, b in pairs for t in ((b, a) if b_first else (a, b))]
    source = open_quote_file(write_csv(tmp_path / "q.csv", rows))
    settings = config(tmp_path)
    params, defaulted = params_for_data(settings.exchanges, source.exchanges)
    assert defaulted == []
    summary = await replay(source, settings, params, store=False)
    opened = sorted(round(e.opened_at - T0) for e in summary.episodes)
    assert opened == [start for start, _ in WINDOWS]
    for e in summary.episodes:
        assert all(s in real for s in range(round(e.opened_at - T0), round(e.closed_at - T0)))
        assert e.close_reason in {"below_threshold", "end_of_input"}
    assert {round(e.closed_at - T0) for e in summary.episodes} == {end for _, end in WINDOWS}
    assert all(e.buy_exchange == "a" and e.sell_exchange == "b" for e in summary.episodes)
