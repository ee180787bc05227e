"""Properties of the detector over random quote streams (prices and times on grids, so
the limits are hit exactly as well as missed)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from arbot.detector import Detector
from arbot.models import Episode, ExchangeParams, Signal, Tick
from tests.detector.helpers import SYMBOL
from tests.detector.helpers import settings as detector_settings

NAMES = ("a", "b", "c")
MAX_AGE = 5.0
MAX_SKEW = 2.0


@dataclass(frozen=True)
class Step:
    exchange: int
    bid_ticks: int
    spread_ticks: int
    size: float | None
    advance: float  # seconds since the previous step
    delay: float  # receive time before `now`
    ts_offset: float  # exchange timestamp relative to the receive time


# Repeated values weight the draws towards usable quotes so that signals are frequent.
steps = st.builds(
    Step,
    exchange=st.integers(0, 2),
    bid_ticks=st.integers(0, 60),
    spread_ticks=st.integers(0, 4),
    size=st.sampled_from([1.0, 1.0, 3.0, 0.5, None]),
    advance=st.sampled_from([0.0, 0.5, 1.0, 2.5]),
    delay=st.sampled_from([0.0, 0.0, 0.0, 0.5, 5.0, 5.5]),
    ts_offset=st.sampled_from([0.0, 0.0, 0.0, -1.0, 0.5, -2.0, 2.0, 2.5]),
)
fees = st.sampled_from([0.0, 0.0005, 0.001, 0.0025])
baselines = st.sampled_from([0.0, 0.001, -0.002, 0.03])
venue_params = st.tuples(fees, baselines)


def _params(name: str, fee: float, baseline: float) -> ExchangeParams:
    return ExchangeParams(name, True, True, None, baseline, fee, fee, 0.0, 1e12)


def _ticks(seq: list[Step], names: tuple[str, ...] = NAMES) -> list[tuple[Tick, float]]:
    now = 1000.0
    out = []
    for s in seq:
        now += s.advance
        bid = 100.0 + 0.05 * s.bid_ticks
        received = now - s.delay
        out.append(
            (
                Tick(
                    names[s.exchange],
                    SYMBOL,
                    bid,
                    bid + 0.05 * s.spread_ticks,
                    s.size,
                    s.size,
                    received + s.ts_offset,
                    received,
                ),
                now,
            )
        )
    return out


def _run(d: Detector, ticks: list[tuple[Tick, float]]) -> list[list[Signal | Episode]]:
    return [d.on_tick(t, now) for t, now in ticks]


def _adjusted(price: float, p: ExchangeParams) -> float:
    return price / (1.0 + p.premium_baseline)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(steps, min_size=8, max_size=40),
    st.lists(venue_params, min_size=3, max_size=3),
    st.sampled_from([0.0, 0.05, 0.1, 0.3]),
)
def test_signals_only_above_threshold_with_fresh_aligned_legs(
    seq: list[Step], vp: list[tuple[float, float]], min_pct: float
) -> None:
    """Every signal's legs are the latest quotes, each at most max_quote_age old and within
    max_leg_skew of each other, and its edge recomputed from the params is above the
    threshold; the buy leg is the cheaper adjusted ask on a different exchange."""
    params = {n: _params(n, f, b) for n, (f, b) in zip(NAMES, vp, strict=True)}
    d = Detector(
        detector_settings(
            min_profit_percent=min_pct,
            hysteresis_percent=0.0,
            max_quote_age=MAX_AGE,
            max_leg_skew=MAX_SKEW,
        ),
        params,
    )
    latest: dict[str, Tick] = {}
    for t, now in _ticks(seq):
        latest[t.exchange] = t
        for sig in (o for o in d.on_tick(t, now) if isinstance(o, Signal)):
            buy, sell = latest[sig.buy_exchange], latest[sig.sell_exchange]
            pb, ps = params[sig.buy_exchange], params[sig.sell_exchange]
            assert sig.buy_exchange != sig.sell_exchange
            assert (sig.buy_price, sig.sell_price) == (buy.ask, sell.bid)
            assert now - buy.received <= MAX_AGE and now - sell.received <= MAX_AGE
            assert abs(buy.timestamp - sell.timestamp) <= MAX_SKEW
            cost = _adjusted(buy.ask, pb) * (1 + pb.taker_fee)
            proceeds = _adjusted(sell.bid, ps) * (1 - ps.taker_fee)
            assert proceeds - cost > 0
            assert 100 * (proceeds - cost) / cost > min_pct - 1e-9
            assert _adjusted(buy.ask, pb) < _adjusted(sell.ask, ps)
            assert sig.buy_size > 0 and sig.buy_size <= min(buy.ask_size or 0, sell.bid_size or 0)
            assert 0.0 <= sig.confidence <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(steps, min_size=8, max_size=40),
    # Distinct (fee, baseline): two venues quoting the same price at the same cost are a
    # tie the detector breaks by name, which a relabelling rightly changes.
    st.lists(venue_params, min_size=3, max_size=3, unique=True),
)
def test_swapping_exchange_names_swaps_roles(
    seq: list[Step], vp: list[tuple[float, float]]
) -> None:
    """Relabelling the venues (each keeps its parameters) relabels the outputs, nothing else."""
    swap = {"a": "b", "b": "a", "c": "c"}
    params = {n: _params(n, f, b) for n, (f, b) in zip(NAMES, vp, strict=True)}
    swapped = {
        swap[n]: _params(swap[n], p.taker_fee, p.premium_baseline) for n, p in params.items()
    }
    cfg = detector_settings(max_quote_age=MAX_AGE, max_leg_skew=MAX_SKEW)
    plain = _run(Detector(cfg, params), _ticks(seq))
    renamed = _run(Detector(cfg, swapped), _ticks(seq, tuple(swap[n] for n in NAMES)))
    assert len(plain) == len(renamed)
    for outs, routs in zip(plain, renamed, strict=True):
        assert [_roles(o, swap) for o in outs] == [_roles(o, {}) for o in routs]


def _roles(o: Signal | Episode, swap: dict[str, str]) -> tuple[object, ...]:
    def name(n: str) -> str:
        return swap.get(n, n)

    if isinstance(o, Signal):
        return (
            "S",
            name(o.buy_exchange),
            name(o.sell_exchange),
            o.buy_price,
            o.sell_price,
            o.profit_percent,
            o.buy_size,
            o.confidence,
            o.trend_direction,
            o.timestamp,
        )
    return (
        "E",
        name(o.buy_exchange),
        name(o.sell_exchange),
        o.opened_at,
        o.closed_at,
        o.peak_profit_percent,
        o.updates,
        o.signals,
        o.close_reason,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            Step,
            exchange=st.integers(0, 1),
            bid_ticks=st.integers(0, 60),
            spread_ticks=st.integers(0, 4),
            size=st.sampled_from([None, 1.0]),
            advance=st.sampled_from([0.0, 1.0, 3.0]),
            delay=st.sampled_from([0.0, 5.5]),
            ts_offset=st.sampled_from([0.0, 2.5]),
        ),
        min_size=8,
        max_size=40,
    ),
    st.tuples(fees, fees),
    st.tuples(st.integers(0, 1), st.sampled_from([0.0005, 0.001, 0.01])),
    st.sampled_from([0.0, 0.02, 0.05]),
)
def test_raising_a_fee_never_creates_an_opportunity(
    seq: list[Step],
    fees_ab: tuple[float, float],
    raise_fee: tuple[int, float],
    hysteresis: float,
) -> None:
    """Two venues: with one fee raised, the open opportunities are always a subset of those
    with the lower fee, and a higher-fee signal never appears where the lower-fee run has
    no open episode for that pair."""
    low = {"a": _params("a", fees_ab[0], 0.0), "b": _params("b", fees_ab[1], 0.0)}
    high = dict(low)
    raised, raise_by = raise_fee
    name = NAMES[raised]
    high[name] = _params(name, low[name].taker_fee + raise_by, 0.0)
    cfg = detector_settings(min_profit_percent=0.05, hysteresis_percent=hysteresis)
    d_low, d_high = Detector(cfg, low), Detector(cfg, high)
    open_low: set[tuple[str, str]] = set()
    open_high: set[tuple[str, str]] = set()
    for t, now in _ticks(seq):
        _track(open_low, d_low.on_tick(t, now))
        _track(open_high, d_high.on_tick(t, now))
        assert open_high <= open_low
        assert d_high.open_episodes() <= d_low.open_episodes()


def _track(open_pairs: set[tuple[str, str]], outputs: list[Signal | Episode]) -> None:
    for o in outputs:
        if isinstance(o, Episode):
            open_pairs.discard((o.buy_exchange, o.sell_exchange))
        else:
            open_pairs.add((o.buy_exchange, o.sell_exchange))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(steps, min_size=8, max_size=40),
    st.lists(venue_params, min_size=3, max_size=3),
    st.sampled_from([0.0, 0.05, 0.1]),
)
def test_an_opportunity_of_the_updated_exchange_is_never_missed(
    seq: list[Step], vp: list[tuple[float, float]], min_pct: float
) -> None:
    """After a tick of X: if some usable counterparty gives X-buys (or X-sells) an edge
    above the threshold, an episode with X in that role is open."""
    params = {n: _params(n, f, b) for n, (f, b) in zip(NAMES, vp, strict=True)}
    d = Detector(
        detector_settings(
            min_profit_percent=min_pct,
            hysteresis_percent=min_pct / 2,
            max_quote_age=MAX_AGE,
            max_leg_skew=MAX_SKEW,
        ),
        params,
    )
    latest: dict[str, Tick] = {}
    open_pairs: set[tuple[str, str]] = set()
    for t, now in _ticks(seq):
        latest[t.exchange] = t
        _track(open_pairs, d.on_tick(t, now))
        for other in latest.values():
            if other.exchange == t.exchange or not _usable(t, other, now):
                continue
            if _pct(t, other, params) > min_pct + 1e-9:
                assert any(buy == t.exchange for buy, _ in open_pairs)
            if _pct(other, t, params) > min_pct + 1e-9:
                assert any(sell == t.exchange for _, sell in open_pairs)


def _usable(a: Tick, b: Tick, now: float) -> bool:
    return (
        all(x.bid_size and x.ask_size for x in (a, b))
        and now - a.received <= MAX_AGE
        and now - b.received <= MAX_AGE
        and abs(a.timestamp - b.timestamp) <= MAX_SKEW
    )


def _pct(buy: Tick, sell: Tick, params: dict[str, ExchangeParams]) -> float:
    pb, ps = params[buy.exchange], params[sell.exchange]
    cost = _adjusted(buy.ask, pb) * (1 + pb.taker_fee)
    return 100 * (_adjusted(sell.bid, ps) * (1 - ps.taker_fee) - cost) / cost


@settings(max_examples=200, deadline=None)
@given(
    st.lists(steps, min_size=1, max_size=30),
    st.lists(venue_params, min_size=3, max_size=3),
    st.booleans(),
)
def test_best_spread_is_the_best_pair_of_fresh_quotes(
    seq: list[Step], vp: list[tuple[float, float]], grouped: bool
) -> None:
    """best_spreads() equals the brute-force best over pairs of fresh quotes of distinct
    venues (with a quote group, one venue may quote both BTC/USDT and BTC/USD)."""
    params = {n: _params(n, f, b) for n, (f, b) in zip(NAMES, vp, strict=True)}
    groups = (("USDT", "USD"),) if grouped else ()
    d = Detector(detector_settings(max_quote_age=MAX_AGE, quote_groups=groups), params)
    latest: dict[tuple[str, str], Tick] = {}
    now = 0.0
    for i, (plain, now) in enumerate(_ticks(seq)):
        t = plain._replace(symbol="BTC/USD") if grouped and i % 2 else plain
        latest[t.exchange, t.symbol] = t
        d.on_tick(t, now)
    fresh = [t for t in latest.values() if now - t.received <= MAX_AGE and t.bid_size]
    brute = [_pct(a, b, params) for a in fresh for b in fresh if a.exchange != b.exchange]
    got = d.best_spreads().get(SYMBOL)
    if brute:
        assert got is not None and abs(got - max(brute)) < 1e-9
    else:
        assert got is None
