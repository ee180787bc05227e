"""Reload while running: new thresholds and fees apply to the running engine at once; an
exchange taken out stops being a leg and its episodes close."""

from __future__ import annotations

from arbot.engine import Engine
from arbot.models import Episode, Tick
from arbot.records import Resume, SignalFound
from arbot.settings import Settings

from .helpers import params

T0 = 1_760_000_000.0


def config(
    min_profit: float, fee: float = 0.0, exchanges: tuple[str, ...] = ("a", "b")
) -> Settings:
    return Settings.model_validate(
        {
            "exchanges": [
                {"id": n, "symbols": ["BTC/USDT"], "taker_fee": fee, "min_trade_amount": 0.0}
                for n in exchanges
            ],
            "detector": {"min_profit_percent": min_profit, "hysteresis_percent": 0.0},
        }
    )


def quotes(t: float) -> list[Tick]:
    """b's bid 0.3 % above a's ask."""
    return [
        Tick("a", "BTC/USDT", 99.99, 100.0, 1.0, 1.0, t, t),
        Tick("b", "BTC/USDT", 100.3, 100.31, 1.0, 1.0, t, t),
    ]


def signals(engine: Engine, t: float) -> list[SignalFound]:
    return [r for r in engine.process(quotes(t)).records if isinstance(r, SignalFound)]


def test_a_lower_threshold_applies_at_the_next_tick() -> None:
    s = config(0.5)
    engine = Engine(s, params(s), Resume({}), paper=False)
    assert signals(engine, T0) == []
    lower = config(0.1)
    engine.reconfigure(lower, params(lower))
    assert len(signals(engine, T0 + 1)) == 1


def test_higher_fees_close_the_cross_at_once() -> None:
    s = config(0.1)
    engine = Engine(s, params(s), Resume({}), paper=False)
    assert len(signals(engine, T0)) == 1
    dear = config(0.1, fee=0.002)  # 0.4 % round trip: the 0.3 % cross is gone
    engine.reconfigure(dear, params(dear))
    closed = [r for r in engine.process(quotes(T0 + 1)).records if isinstance(r, Episode)]
    assert [e.close_reason for e in closed] == ["below_threshold"]


def test_an_exchange_taken_out_closes_its_episodes_and_is_ignored() -> None:
    s = config(0.1)
    engine = Engine(s, params(s), Resume({}), paper=False)
    assert len(signals(engine, T0)) == 1
    only_a = config(0.1, exchanges=("a",))
    engine.reconfigure(only_a, params(only_a))
    out = engine.process(quotes(T0 + 1)).records
    assert [r.close_reason for r in out if isinstance(r, Episode)] == ["config_changed"]
    assert not [r for r in out if isinstance(r, SignalFound)]
    back = config(0.1)
    engine.reconfigure(back, params(back))
    assert len(signals(engine, T0 + 2)) == 1
