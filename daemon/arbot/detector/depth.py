"""Executable edge: how much of a cross can be traded through two order books, sans-IO.

Books are sequences of (price, amount) levels, asks ascending by price, bids descending,
amounts > 0 (not checked: this runs on every book update). Buying on venue A's asks and
selling on venue B's bids, each level's price is netted as in the detector (core.py):

    net ask  c_i = ask_i / (1 + premium_A) · (1 + taker_A)
    net bid  s_j = bid_j / (1 + premium_B) · (1 − taker_B)

For a base amount q walked through both books (level i of the asks and j of the bids
holding the q-th unit):

    notional N(q) = Σ ask_i · amount taken at i      (quote paid at the exchange, before fee)
    cost     C(q) = Σ c_i · amount taken at i = N(q) · (1 + taker_A) / (1 + premium_A)
    proceeds P(q) = Σ s_j · amount taken at j
    profit   π(q) = P(q) − C(q);   profit_percent = 100 · π(q) / C(q)

π is concave piecewise linear (its slope s_j − c_i never increases) and the profit
percent P/C − 1 never increases in q (average net bid falls, average net cost rises).
So the best amount within the constraints is found in one walk over both books: take
each segment between breakpoints (where a level of either book ends) while its marginal
profit is positive, and cut a segment where a constraint binds, solving its linear
equation there (profit_percent = min_profit_percent, N = max_notional), or extend the
walk to N = min_notional. O(levels touched); nothing is built but the result.

amount_for and value_of walk one side alone, by value and by amount: the detector's trade
limits in the other leg's prices, and a paper fill's price through a book.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Level = tuple[float, float]  # (price, amount)

# Why a step of the walk ended.
_DEPTH = 0  # a level of either book is used up: walk on
_MIN = 1  # min_notional reached where the marginal profit is no longer positive
_PERCENT = 2  # profit_percent would fall below min_profit_percent
_MAX = 3  # max_notional reached
# Relative gap between cumulative amounts below which they are the same breakpoint.
_TIE = 1.0 + 1e-12


@dataclass(frozen=True, slots=True)
class Trade:
    """The most profitable amount; prices are raw exchange prices, money in quote currency
    (cost and proceeds net of fees and premium baselines, as in the module docstring)."""

    quantity: float
    buy_vwap: float
    sell_vwap: float
    cost: float
    proceeds: float
    profit: float
    profit_percent: float
    levels_buy: int
    levels_sell: int


def best_trade(
    asks: Sequence[Level],
    bids: Sequence[Level],
    *,
    taker_buy: float,
    taker_sell: float,
    premium_buy: float = 0.0,
    premium_sell: float = 0.0,
    min_profit_percent: float = 0.0,
    min_notional: float = 0.0,
    max_notional: float = float("inf"),
) -> Trade | None:
    """The amount q* that maximises profit buying on `asks` and selling on `bids`, with
    profit_percent(q*) ≥ min_profit_percent and min_notional ≤ N(q*) ≤ max_notional, each
    to float rounding (notional: quote currency paid at the buy venue's own prices, before
    fee). Of equally profitable amounts, the smallest. None when no such amount has a
    positive profit."""
    if not asks or not bids or min_notional > max_notional:
        return None
    ka = (1.0 + taker_buy) / (1.0 + premium_buy)
    kb = (1.0 - taker_sell) / (1.0 + premium_sell)
    # profit_percent ≥ m  ⇔  P − (1 + m/100) · C ≥ 0, linear on a segment.
    kc = (1.0 + min_profit_percent / 100.0) * ka
    n_asks, n_bids = len(asks), len(bids)
    i = j = 0
    ask, end_ask = asks[0]
    bid, end_bid = bids[0]
    net_ask, net_bid = ask * ka, bid * kb
    # Levels are tracked by where they start and end on the cumulative amount, not by what
    # is left of them: a used-up level then leaves no rounding residue to walk on with.
    start_ask = start_bid = 0.0
    quantity = spent = received = 0.0  # received: raw bid price × amount sold
    short = min_notional  # notional still missing to reach min_notional
    while True:
        # Conditional expressions, not min()/max(): a call costs more on this path.
        end = end_ask if end_ask < end_bid else end_bid
        step = end - quantity
        cause = _DEPTH
        if net_bid <= net_ask:
            # Each further unit loses money: go on only as far as min_notional demands.
            if short <= 0.0:
                break
            room = short / ask
            if room <= step:
                step, cause = room, _MIN
        slope = net_bid - ask * kc
        if slope < 0.0:
            room = (received * kb - spent * kc) / -slope
            if room < step:
                # Rounding may leave the slack a hair below zero: never walk backwards.
                step, cause = (room if room > 0.0 else 0.0), _PERCENT
        room = (max_notional - spent) / ask
        if room < step:
            step, cause = (room if room > 0.0 else 0.0), _MAX
        spent += ask * step
        received += bid * step
        short -= ask * step
        if cause != _DEPTH:
            quantity += step
            if cause != _PERCENT:
                # On a notional bound (max_notional ≥ min_notional) min_notional is reached:
                # a rounding residue must not turn that into a miss.
                short = 0.0
            break
        quantity = end
        # Levels of the two books that end together but for the rounding of their sums
        # both end here: a 1e-17 sliver of one is no level to touch.
        tie = end * _TIE
        if end_ask <= tie:
            i += 1
            if i == n_asks:
                break
            start_ask = end
            ask, amount = asks[i]
            end_ask += amount
            net_ask = ask * ka
        if end_bid <= tie:
            j += 1
            if j == n_bids:
                break
            start_bid = end
            bid, amount = bids[j]
            end_bid += amount
            net_bid = bid * kb
    if quantity <= 0.0 or short > 0.0:
        return None
    cost = spent * ka
    proceeds = received * kb
    profit = proceeds - cost
    if profit <= 0.0:
        return None
    # Levels before i are used up; level i is touched if the walk went past its start.
    levels_buy = i + (i < n_asks and quantity > start_ask)
    levels_sell = j + (j < n_bids and quantity > start_bid)
    return Trade(
        quantity,
        spent / quantity,
        received / quantity,
        cost,
        proceeds,
        profit,
        100.0 * profit / cost,
        levels_buy,
        levels_sell,
    )


def edge_at_notional(
    asks: Sequence[Level],
    bids: Sequence[Level],
    notional: float,
    *,
    taker_buy: float,
    taker_sell: float,
    premium_buy: float = 0.0,
    premium_sell: float = 0.0,
) -> float | None:
    """Net edge in percent, 100 · π(q) / C(q), of the amount q whose asks cost `notional`
    quote currency before fee (> 0); None when either book is too thin for q."""
    if notional <= 0.0:
        raise ValueError(f"notional must be positive, got {notional}")
    quantity = 0.0
    left = notional
    for price, amount in asks:
        value = price * amount
        if value >= left:
            quantity += left / price
            break
        quantity += amount
        left -= value
    else:
        return None
    received = 0.0
    left = quantity
    for price, amount in bids:
        if amount >= left:
            received += price * left
            break
        received += price * amount
        left -= amount
    else:
        return None
    # The same rounding as best_trade's, so both agree on a trade's own notional.
    cost = notional * ((1.0 + taker_buy) / (1.0 + premium_buy))
    proceeds = received * ((1.0 - taker_sell) / (1.0 + premium_sell))
    return 100.0 * (proceeds - cost) / cost


def amount_for(levels: Sequence[Level], value: float) -> float | None:
    """The base amount whose Σ price · amount down `levels` is `value`; None when the
    levels hold less."""
    amount = 0.0
    left = value
    for price, size in levels:
        worth = price * size
        if worth >= left:
            return amount + left / price
        amount += size
        left -= worth
    return None


def value_of(levels: Sequence[Level], amount: float) -> float | None:
    """Σ price · amount of the first `amount` base units down `levels`; None when the
    levels hold less."""
    value = 0.0
    left = amount
    for price, size in levels:
        if size >= left:
            return value + price * left
        value += price * size
        left -= size
    return None
