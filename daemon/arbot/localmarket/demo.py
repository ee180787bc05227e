"""Ready-made sets of fake venues for `arbot demo`: prices that move together with
offsets and dislocations, so the detector finds (and loses) opportunities."""

from __future__ import annotations

from collections.abc import Sequence

from arbot.localmarket.quotes import RandomWalk, Replay
from arbot.localmarket.server import LocalExchange


def demo_exchanges(
    symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"), seed: int = 0, rate: float = 5.0
) -> list[LocalExchange]:
    """binance (the reference prices), okx (+0.05 %, jumping +0.6 % for 3 s every 20 s) and
    kraken (-0.05 %), all from one seed; enter each with `async with`, then point feeds at
    them with `ex.exchange_settings(name)`."""

    def prices(offset: float, every: float = 0.0) -> RandomWalk:
        return RandomWalk(
            symbols=symbols,
            rate=rate,
            seed=seed,
            offset=offset,
            dislocation_every=every,
            dislocation_size=0.006,
            dislocation_length=3.0,
        )

    return [
        LocalExchange("binance", source=prices(0.0)),
        LocalExchange("okx", source=prices(0.0005, every=20.0)),
        LocalExchange("kraken", source=prices(-0.0005)),
    ]


def replay_exchanges(speed: float = 1.0) -> list[LocalExchange]:
    """The recorded Binance spot and USD-M captures as two binance venues (a real basis of a
    few basis points between them). Name them apart: `exchange_settings("binance-usdm")`."""
    return [
        LocalExchange("binance", source=Replay.venue("spot", speed=speed)),
        LocalExchange("binance", source=Replay.venue("usdm", speed=speed), event_time=True),
    ]
