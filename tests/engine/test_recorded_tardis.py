"""Real recorded data (Binance spot vs USD-M BTCUSDT, one minute, Tardis layout) through the
engine, checked after every instant against an independent computation of the cross."""

from __future__ import annotations

from pathlib import Path

from arbot.engine import Engine
from arbot.models import Tick
from arbot.recorded import open_quote_file
from arbot.records import Resume
from arbot.settings import Settings
from arbot.venues import params_from_settings

FIXTURE = Path(__file__).parents[1] / "data" / "tardis" / "binance_btcusdt_quotes_60s.csv.gz"
FEE = 0.0002  # 2 bps a leg: the 2-5 bps basis crosses on and off
MAX_AGE, SKEW = 5.0, 2.0
VENUES = ("binance", "binance-futures")


def config() -> Settings:
    return Settings.model_validate(
        {
            "exchanges": [
                {"id": v, "symbols": ["BTC/USDT"], "taker_fee": FEE, "min_trade_amount": 0.0}
                for v in VENUES
            ],
            "detector": {
                "min_profit_percent": 0.0,
                "hysteresis_percent": 0.0,
                "max_quote_age": MAX_AGE,
                "max_leg_skew": SKEW,
            },
        }
    )


def expected_open(
    latest: dict[str, Tick], now: float
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(buy, sell) pairs whose net cross is positive, and those where it is exactly zero,
    with both legs fresh and in skew."""
    out, zero = set(), set()
    for buy, sell in ((VENUES[0], VENUES[1]), (VENUES[1], VENUES[0])):
        a, b = latest.get(buy), latest.get(sell)
        if a is None or b is None:
            continue
        fresh = now - a.received <= MAX_AGE and now - b.received <= MAX_AGE
        if not fresh or abs(a.timestamp - b.timestamp) > SKEW:
            continue
        if (a.ask_size or 0) <= 0 or (b.bid_size or 0) <= 0:
            continue
        cost, proceeds = a.ask * (1 + FEE), b.bid * (1 - FEE)
        if proceeds > cost:
            out.add((buy, sell))
        elif proceeds == cost:
            zero.add((buy, sell))
    return out, zero


def test_open_episodes_follow_the_real_cross() -> None:
    s = config()
    engine = Engine(s, params_from_settings(s.exchanges), Resume({}), paper=False)
    assert engine.detector is not None
    ticks = [t for t in open_quote_file(FIXTURE).ticks() if isinstance(t, Tick)]
    groups: list[list[Tick]] = []
    for t in ticks:  # instants: consecutive rows with one exchange timestamp
        if groups and groups[-1][0].timestamp == t.timestamp:
            groups[-1].append(t)
        else:
            groups.append([t])
    latest: dict[str, Tick] = {}
    checked = opened = mismatches = 0
    now = float("-inf")
    for group in groups:
        engine.process(group)
        for t in group:
            latest[t.exchange] = t
        now = max(now, *(t.received for t in group))
        want, zero = expected_open(latest, now)
        have = {(st.buy_exchange, st.sell_exchange) for st in engine.detector.open_state()}
        # A cross of exactly zero keeps an open episode open (it closes strictly below).
        mismatches += not (want <= have <= want | zero)
        checked += 1
        opened += bool(want)
    assert checked == len(groups) > 10_000
    assert 0 < opened < checked  # the cross really comes and goes
    assert mismatches == 0
