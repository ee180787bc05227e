"""Executable edge through order books (arbot.detector.depth): hand-computed examples, and
random books against a brute-force oracle that evaluates every breakpoint of both books'
cumulative amounts and every constraint boundary from scratch."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import accumulate, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbot.detector.depth import Level, Trade, best_trade, edge_at_notional

INF = float("inf")
FEE = 0.001
# Two levels each side; the buy fee makes a unit at ask 101 cost 101.101, the sell fee a
# unit at bid 103 bring 102.897 and one at 100.5 bring 100.3995.
ASKS: list[Level] = [(100.0, 1.0), (101.0, 2.0)]
BIDS: list[Level] = [(103.0, 1.5), (100.5, 1.0)]


def _fees(**extra: float) -> dict[str, float]:
    return {"taker_buy": FEE, "taker_sell": FEE} | extra


# --- hand-computed examples ---------------------------------------------------------------


def test_two_levels_each_side_stops_where_the_marginal_unit_loses() -> None:
    """Units 0–1 earn 102.897 − 100.1, units 1–1.5 earn 102.897 − 101.101, and the next
    unit (bid 100.5 against ask 101) loses, so q* = 1.5."""
    trade = best_trade(ASKS, BIDS, **_fees())
    cost = (100.0 * 1.0 + 101.0 * 0.5) * 1.001
    proceeds = 103.0 * 1.5 * 0.999
    assert trade is not None
    assert asdict(trade) == pytest.approx(
        asdict(
            Trade(
                quantity=1.5,
                buy_vwap=(100.0 + 101.0 * 0.5) / 1.5,
                sell_vwap=103.0,
                cost=cost,
                proceeds=proceeds,
                profit=proceeds - cost,
                profit_percent=100 * (proceeds - cost) / cost,
                levels_buy=2,
                levels_sell=1,
            )
        ),
        rel=1e-12,
    )
    assert trade.profit == pytest.approx((102.897 - 100.1) * 1.0 + (102.897 - 101.101) * 0.5)


def test_min_profit_percent_cuts_inside_a_level() -> None:
    """At q = 1 the profit is 2.797 on a cost of 100.1 (2.79 %), at 1.5 it is 2.45 %: 2.6 %
    is reached inside the second ask level, where 102.897·q = 1.026·(100.1 + 101.101·(q − 1))."""
    trade = best_trade(ASKS, BIDS, **_fees(), min_profit_percent=2.6)
    q = 1.0 + (102.897 - 1.026 * 100.1) / (1.026 * 101.101 - 102.897)
    assert trade is not None
    assert trade.quantity == pytest.approx(q, rel=1e-12)
    assert trade.profit_percent == pytest.approx(2.6, rel=1e-12)
    assert (trade.levels_buy, trade.levels_sell) == (2, 1)


def test_max_notional_cuts_inside_a_level() -> None:
    """120 quote currency buys the first level (100) and 20/101 of the second."""
    trade = best_trade(ASKS, BIDS, **_fees(), max_notional=120.0)
    q = 1.0 + 20.0 / 101.0
    assert trade is not None
    assert trade.quantity == pytest.approx(q, rel=1e-12)
    assert trade.buy_vwap * trade.quantity == pytest.approx(120.0, rel=1e-12)
    assert trade.cost == pytest.approx(120.0 * 1.001, rel=1e-12)
    assert trade.proceeds == pytest.approx(103.0 * q * 0.999, rel=1e-12)


def test_min_notional_walks_on_past_the_last_profitable_unit() -> None:
    """q* = 1.5 pays 150.5; 200 needs 49.5/101 more units, sold at the second bid level."""
    trade = best_trade(ASKS, BIDS, **_fees(), min_notional=200.0)
    extra = 49.5 / 101.0
    proceeds = (103.0 * 1.5 + 100.5 * extra) * 0.999
    assert trade is not None
    assert trade.quantity == pytest.approx(1.5 + extra, rel=1e-12)
    assert trade.cost == pytest.approx(200.0 * 1.001, rel=1e-12)
    assert trade.profit == pytest.approx(proceeds - 200.0 * 1.001, rel=1e-12)
    assert (trade.levels_buy, trade.levels_sell) == (2, 2)


def test_notional_bounds_that_cannot_hold_give_none() -> None:
    assert best_trade(ASKS, BIDS, **_fees(), min_notional=130.0, max_notional=120.0) is None
    # The bids hold 2.5 units, which the asks sell for 100 + 1.5·101 = 251.5.
    assert best_trade(ASKS, BIDS, **_fees(), min_notional=252.0) is None
    # Still profitable as a whole: (103·1.5 + 100.5)·0.999 > 251.5·1.001.
    whole = best_trade(ASKS, BIDS, **_fees(), min_notional=251.5)
    assert whole is not None
    assert whole.quantity == 2.5
    assert whole.profit == pytest.approx(255.0 * 0.999 - 251.5 * 1.001, rel=1e-12)


def test_min_notional_beyond_the_zero_profit_point_gives_none() -> None:
    """Without fees the first unit earns 1 and each unit after it loses 9: the profit at
    q = 1 + x is 1 − 9x, zero at x = 1/9, where the asks' notional is 100 + 110/9."""
    asks: list[Level] = [(100.0, 1.0), (110.0, 1.0)]
    bids: list[Level] = [(101.0, 2.0)]
    zero = 100.0 + 110.0 / 9.0
    below = best_trade(asks, bids, taker_buy=0.0, taker_sell=0.0, min_notional=zero - 1e-6)
    assert below is not None
    assert below.profit == pytest.approx(1e-6 / 110.0 * 9.0, rel=1e-6)
    assert best_trade(asks, bids, taker_buy=0.0, taker_sell=0.0, min_notional=zero + 1e-6) is None


def test_equal_notional_bounds_trade_exactly_that_notional() -> None:
    """60.94 = 100.01·0.3 + 100.03·x: summed step by step, the notional reached differs
    from 60.94 in the last bit; min_notional = max_notional must still be met."""
    trade = best_trade(
        [(100.01, 0.3), (100.03, 5.0)],
        [(101.0, 10.0)],
        **_fees(),
        min_notional=60.94,
        max_notional=60.94,
    )
    assert trade is not None
    assert trade.quantity == pytest.approx(0.3 + (60.94 - 100.01 * 0.3) / 100.03, rel=1e-12)


def test_of_equally_profitable_amounts_the_smallest() -> None:
    """Without fees the first unit earns 1 and the second earns 0: q* = 1, not 2."""
    trade = best_trade([(100.0, 1.0), (101.0, 1.0)], [(101.0, 2.0)], taker_buy=0.0, taker_sell=0.0)
    assert trade is not None
    assert (trade.quantity, trade.profit, trade.levels_buy) == (1.0, 1.0, 1)


def test_premium_baselines_bring_both_venues_to_world_prices() -> None:
    """Venue A trades 3 % above the world: its ask 103 is 100 in world terms; venue B's bid
    100.495 at a −0.5 % premium is 101 in world terms. Without fees: 1 % on up to 2 units."""
    trade = best_trade(
        [(103.0, 2.0)],
        [(100.495, 5.0)],
        taker_buy=0.0,
        taker_sell=0.0,
        premium_buy=0.03,
        premium_sell=-0.005,
    )
    assert trade is not None
    assert (trade.quantity, trade.buy_vwap, trade.sell_vwap) == (2.0, 103.0, 100.495)
    assert trade.cost == pytest.approx(2 * 100.0)
    assert trade.proceeds == pytest.approx(2 * 101.0)
    assert trade.profit_percent == pytest.approx(1.0)


def test_fees_that_eat_the_cross_give_none() -> None:
    # 100.1 · 1.001 = 100.2001 > 100.15 · 0.999: crossed on raw prices, a loss net of fees.
    assert best_trade([(100.1, 1.0)], [(100.15, 1.0)], **_fees()) is None
    assert best_trade([(100.0, 1.0)], [(100.0, 1.0)], taker_buy=0.0, taker_sell=0.0) is None
    assert best_trade([], BIDS, **_fees()) is None


def test_edge_at_notional_by_hand() -> None:
    """150.5 buys 1.5 units (the q* above); 201 = 100 + 101 buys 2, the last half unit
    sold at the second bid level; 302 buys the whole ask book, 3 units."""
    assert edge_at_notional(ASKS, BIDS, 150.5, **_fees()) == pytest.approx(
        100 * (103.0 * 1.5 * 0.999 - 150.5 * 1.001) / (150.5 * 1.001)
    )
    proceeds = (103.0 * 1.5 + 100.5 * 0.5) * 0.999
    assert edge_at_notional(ASKS, BIDS, 201.0, **_fees()) == pytest.approx(
        100 * (proceeds - 201.0 * 1.001) / (201.0 * 1.001)
    )
    # 302 buys 3 units but the bids hold 2.5; 303 is more than the asks hold.
    assert edge_at_notional(ASKS, BIDS, 302.0, **_fees()) is None
    assert edge_at_notional(ASKS, [(110.0, 9.0)], 303.0, **_fees()) is None
    with pytest.raises(ValueError, match="positive"):
        edge_at_notional(ASKS, BIDS, 0.0, **_fees())


# --- random books -------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    asks: list[Level]
    bids: list[Level]
    taker_buy: float
    taker_sell: float
    premium_buy: float
    premium_sell: float

    def costs(self) -> dict[str, float]:
        return {
            "taker_buy": self.taker_buy,
            "taker_sell": self.taker_sell,
            "premium_buy": self.premium_buy,
            "premium_sell": self.premium_sell,
        }

    @property
    def ka(self) -> float:
        return (1.0 + self.taker_buy) / (1.0 + self.premium_buy)

    @property
    def kb(self) -> float:
        return (1.0 - self.taker_sell) / (1.0 + self.premium_sell)

    def top_percent(self) -> float:
        cost = self.asks[0][0] * self.ka
        return 100.0 * (self.bids[0][0] * self.kb - cost) / cost

    def ask_notional(self) -> float:
        return sum(p * a for p, a in self.asks)


# (mid, tick, lot, decimals): a penny coin, a 100-dollar coin, bitcoin.
SCALES = [(0.1234, 0.0001, 10.0, 4), (100.0, 0.01, 0.01, 2), (30_000.0, 0.5, 0.0001, 1)]
fees = st.integers(0, 50).map(lambda n: n / 10_000)  # 0–0.5 %
premiums = st.sampled_from([0.0, 0.0, 0.0005, -0.001, 0.002, 0.01, -0.005])


@st.composite
def markets(draw: st.DrawFn) -> Market:
    mid, tick, lot, decimals = draw(st.sampled_from(SCALES))

    def side(sign: int, start: int) -> list[Level]:
        # The level count drawn first: lists drawn directly are mostly short.
        count = draw(st.integers(0, 19))
        gaps = draw(st.lists(st.integers(0, 12), min_size=count, max_size=count))
        ticks = accumulate([start, *gaps])
        # Rounded to the grid as a parsed exchange price would be.
        prices = [round(mid + sign * tick * t, decimals) for t in ticks]
        lots = draw(st.lists(st.integers(1, 2_000), min_size=len(prices), max_size=len(prices)))
        return [(p, round(n * lot, 4)) for p, n in zip(prices, lots, strict=True)]

    # Best ask and best bid within ±0.6 % of mid for the 100-dollar coin, levels up to
    # 0.12 % apart: crossed and uncrossed books, crosses that end inside the books and
    # ones that take a whole book, with fees up to 1 % for the round trip.
    asks = side(+1, draw(st.integers(-60, 20)))
    bids = side(-1, -draw(st.integers(-20, 60)))
    return Market(asks, bids, draw(fees), draw(fees), draw(premiums), draw(premiums))


@dataclass(frozen=True)
class Limits:
    min_profit_percent: float
    min_notional: float
    max_notional: float

    def kwargs(self) -> dict[str, float]:
        return {
            "min_profit_percent": self.min_profit_percent,
            "min_notional": self.min_notional,
            "max_notional": self.max_notional,
        }


@st.composite
def limits(draw: st.DrawFn, market: Market) -> Limits:
    """min_profit_percent as a fraction of the top of book's (so that it binds inside the
    books); notional bounds as fractions of the ask book's notional (0, inside, beyond),
    min_notional also just past the unconstrained optimum's (so that it pushes q* on)."""
    top = max(0.0, market.top_percent())
    total = market.ask_notional()
    pct = draw(st.sampled_from([0, 0, 30, 70, 90, 99, 120]))
    lo = total * draw(st.sampled_from([0, 0, 0, 1, 5, 10, 20, 35, 50, 70, 90])) / 100
    free = oracle(market, Limits(0.0, 0.0, INF))
    if free is not None and draw(st.booleans()):
        lo = _fill(market.asks, free.near[0]) * draw(st.sampled_from([1.01, 1.1, 1.5]))
    hi = draw(st.sampled_from([None, None, 2, 10, 30, 60, 100, 150]))
    return Limits(top * pct / 100, lo, INF if hi is None else total * hi / 100)


def _fill(levels: list[Level], q: float) -> float:
    """Σ price × amount of the first q units of a book, from scratch."""
    value = 0.0
    for price, amount in levels:
        take = min(amount, q)
        if take <= 0:
            break
        value += price * take
        q -= take
    return value


@dataclass(frozen=True)
class Point:
    q: float
    notional: float
    cost: float
    proceeds: float

    @property
    def profit(self) -> float:
        return self.proceeds - self.cost


def _at(m: Market, q: float) -> Point:
    notional = _fill(m.asks, q)
    return Point(q, notional, notional * m.ka, _fill(m.bids, q) * m.kb)


def _bound(points: list[Point], g: Callable[[Point], float]) -> float:
    """sup{q : g ≥ 0} for g linear between the points with g(first) ≥ 0 and {g ≥ 0} an
    interval from the first point: the crossing, interpolated on its segment."""
    for a, b in pairwise(points):
        va, vb = g(a), g(b)
        if vb < 0:
            return a.q + (b.q - a.q) * va / (va - vb)
    return points[-1].q


@dataclass(frozen=True)
class Best:
    profit: float
    cost: float
    near: list[float]  # every candidate amount as profitable as the best, to rounding


def oracle(m: Market, lim: Limits) -> Best | None:
    cum_a = list(accumulate(a for _, a in m.asks))
    cum_b = list(accumulate(a for _, a in m.bids))
    depth = min(cum_a[-1], cum_b[-1])
    grid = sorted({0.0, depth, *(q for q in cum_a + cum_b if q < depth)})
    points = [_at(m, q) for q in grid]
    k1 = 1.0 + lim.min_profit_percent / 100
    hi = min(
        depth,
        _bound(points, lambda p: p.proceeds - k1 * p.cost),
        _bound(points, lambda p: lim.max_notional - p.notional),
    )
    if points[-1].notional < lim.min_notional:
        return None
    lo = _bound(points, lambda p: lim.min_notional - p.notional)
    if lo > hi:
        return None
    candidates = [_at(m, q) for q in (lo, hi, *(q for q in grid if lo < q < hi))]
    best = max(c.profit for c in candidates)
    if best <= 0:
        return None
    scale = max(c.cost for c in candidates)
    near = [c.q for c in candidates if c.profit >= best - 1e-12 * scale]
    return Best(best, scale, near)


def _check_trade(m: Market, trade: Trade) -> None:
    """The trade's fields describe its own quantity, recomputed from scratch."""
    p = _at(m, trade.quantity)
    assert trade.buy_vwap * trade.quantity == pytest.approx(p.notional, rel=1e-9)
    assert trade.sell_vwap * trade.quantity == pytest.approx(p.proceeds / m.kb, rel=1e-9)
    assert trade.cost == pytest.approx(p.cost, rel=1e-9)
    assert trade.proceeds == pytest.approx(p.proceeds, rel=1e-9)
    assert trade.profit == pytest.approx(p.profit, abs=1e-9 * p.cost)
    assert trade.profit_percent == pytest.approx(100 * p.profit / p.cost, abs=1e-9)
    # A level is touched when it starts below q (a hair below: q is a sum of steps).
    starts_a = [0.0, *accumulate(a for _, a in m.asks)][:-1]
    starts_b = [0.0, *accumulate(a for _, a in m.bids)][:-1]
    cut = trade.quantity * (1 - 1e-12)
    assert trade.levels_buy == sum(s < cut for s in starts_a)
    assert trade.levels_sell == sum(s < cut for s in starts_b)


@settings(max_examples=600)
@given(st.data())
def test_best_trade_matches_the_oracle(data: st.DataObject) -> None:
    m = data.draw(markets())
    lim = data.draw(limits(m))
    trade = best_trade(m.asks, m.bids, **m.costs(), **lim.kwargs())
    expected = oracle(m, lim)
    if trade is None or expected is None:
        # Both, or the other finds a profit that is zero but for rounding (equal net prices).
        other = trade or expected
        assert other is None or other.profit <= 1e-12 * other.cost
        return
    assert trade.profit == pytest.approx(expected.profit, abs=1e-9 * expected.cost)
    assert any(math.isclose(trade.quantity, q, rel_tol=1e-9) for q in expected.near)
    _check_trade(m, trade)


def _knife_edge(m: Market, notional: float) -> bool:
    """Whether `notional` buys (to rounding) exactly a whole book: then too thin or not is
    decided by the last bit of a sum."""
    total_a = m.ask_notional()
    total_b = sum(a for _, a in m.bids)
    q_all = sum(a for _, a in m.asks)
    q_n = _quantity(m, notional) if notional < total_a else q_all
    return math.isclose(notional, total_a, rel_tol=1e-9) or math.isclose(q_n, total_b, rel_tol=1e-9)


def _quantity(m: Market, notional: float) -> float:
    """The amount the asks sell for `notional`, by the oracle's interpolation."""
    points = [_at(m, q) for q in (0.0, *accumulate(a for _, a in m.asks))]
    return _bound(points, lambda p: notional - p.notional)


def _oracle_edge(m: Market, notional: float) -> float | None:
    if notional > m.ask_notional():
        return None
    q = _quantity(m, notional)
    if q > sum(a for _, a in m.bids):
        return None
    p = _at(m, q)
    return 100 * p.profit / p.cost


sizes = st.lists(st.integers(1, 130), min_size=1, max_size=8)  # % of the ask book's notional


@settings(max_examples=400)
@given(markets(), sizes)
def test_edge_at_notional_matches_the_oracle(m: Market, percents: list[int]) -> None:
    for pct in percents:
        notional = m.ask_notional() * pct / 100
        if _knife_edge(m, notional):
            continue
        expected = _oracle_edge(m, notional)
        edge = edge_at_notional(m.asks, m.bids, notional, **m.costs())
        if expected is None:
            assert edge is None
        else:
            assert edge == pytest.approx(expected, abs=1e-9)


@settings(max_examples=300)
@given(markets())
def test_a_trade_s_own_notional_has_its_profit_percent_as_edge(m: Market) -> None:
    trade = best_trade(m.asks, m.bids, **m.costs())
    if trade is not None:
        notional = trade.buy_vwap * trade.quantity
        if not _knife_edge(m, notional):
            edge = edge_at_notional(m.asks, m.bids, notional, **m.costs())
            assert edge == pytest.approx(trade.profit_percent, abs=1e-9)


@settings(max_examples=300)
@given(markets())
def test_none_exactly_when_the_top_of_book_edge_is_not_positive(m: Market) -> None:
    trade = best_trade(m.asks, m.bids, **m.costs())
    top = m.bids[0][0] * m.kb - m.asks[0][0] * m.ka
    assert (trade is None) == (top <= 0)
    if trade is not None:
        assert trade.profit_percent <= m.top_percent() + 1e-9


@settings(max_examples=300)
@given(st.data())
def test_profit_percent_at_most_the_top_of_book_and_limits_respected(
    data: st.DataObject,
) -> None:
    m = data.draw(markets())
    lim = data.draw(limits(m))
    trade = best_trade(m.asks, m.bids, **m.costs(), **lim.kwargs())
    if trade is None:
        return
    notional = trade.buy_vwap * trade.quantity
    assert trade.profit > 0
    assert trade.profit_percent <= m.top_percent() + 1e-9
    assert trade.profit_percent >= lim.min_profit_percent - 1e-9
    assert lim.min_notional * (1 - 1e-9) <= notional <= lim.max_notional * (1 + 1e-9)


@settings(max_examples=300)
@given(markets(), sizes)
def test_edge_non_increasing_in_size(m: Market, percents: list[int]) -> None:
    edges = [
        edge_at_notional(m.asks, m.bids, m.ask_notional() * pct / 100, **m.costs())
        for pct in sorted(set(percents))
    ]
    filled = [e for e in edges if e is not None]
    assert all(a >= b - 1e-9 for a, b in pairwise(filled))


@settings(max_examples=300)
@given(markets(), st.integers(1, 130), fees, fees)
def test_edge_non_increasing_in_fees(
    m: Market, pct: int, more_buy: float, more_sell: float
) -> None:
    notional = m.ask_notional() * pct / 100
    costs = m.costs()
    edge = edge_at_notional(m.asks, m.bids, notional, **costs)
    costs["taker_buy"] += more_buy
    costs["taker_sell"] += more_sell
    dearer = edge_at_notional(m.asks, m.bids, notional, **costs)
    assert (edge is None) == (dearer is None)
    if edge is not None and dearer is not None:
        assert dearer <= edge + 1e-9
    # The best trade can only lose with higher fees, too.
    cheap = best_trade(m.asks, m.bids, **m.costs())
    dear = best_trade(m.asks, m.bids, **costs)
    if dear is not None:
        assert cheap is not None
        assert dear.profit <= cheap.profit * (1 + 1e-9)
