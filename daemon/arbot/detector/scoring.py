"""Sizing, confidence and trend of an opportunity (documented formulas, no state of their own).

size        = min(ask_size_buy, bid_size_sell, max_buy / ask_buy, max_sell / bid_sell)
              (max_* = max_trade_amount, in each venue's own quote currency); 0 (= no trade)
              when size · ask_buy < min_buy or size · bid_sell < min_sell.
confidence  = freshness · agreement · depth · persistence, each in [0.5, 1]:
  freshness   = 1 − ½ · min(1, oldest leg age / max_quote_age)
  agreement   = 1 − ½ · min(1, |ts_buy − ts_sell| / max_leg_skew)
  depth       = min(1, min(ask_size_buy, bid_size_sell) / (2 · size))   (1 when the top of
                book holds twice the trade, ½ when the trade would take all of it); with
                order books on both legs, of q* against what the books hold (books.held)
  persistence = ½ + ½ · min(1, time open / trend_halflife)
trend       = compare profit_percent with the time-decayed EWMA of the episode's earlier
              profit_percent values (weight of the new value 1 − 2^(−Δt / trend_halflife)):
              above it by more than trend_threshold_percent → widening, below → narrowing.
"""

from __future__ import annotations

from arbot.detector.state import INF, OpenEpisode, Quote, Venue
from arbot.models import TrendDirection


def trade_size(buy: Quote, sell: Quote) -> float:
    """Units tradable on both legs within the venues' trade limits; 0 when there is none."""
    ask_size, bid_size = buy.ask_size, sell.bid_size
    if ask_size is None or bid_size is None:
        return 0.0
    size = min(
        ask_size,
        bid_size,
        buy.venue.max_amount / buy.ask,
        sell.venue.max_amount / sell.bid,
    )
    if (
        size <= 0
        or size * buy.ask < buy.venue.min_amount
        or size * sell.bid < sell.venue.min_amount
    ):
        return 0.0
    return size


def confidence(
    buy: Quote,
    sell: Quote,
    size: float,
    level: float,
    *,
    open_for: float,
    now: float,
    max_quote_age: float,
    max_leg_skew: float,
    horizon: float,
) -> float:
    """`level`: the base amount the legs hold for a trade of `size`."""
    oldest = now - min(buy.received, sell.received)
    freshness = 1.0 - 0.5 * min(1.0, max(0.0, oldest) / max_quote_age)
    agreement = 1.0 - 0.5 * min(1.0, abs(buy.ts - sell.ts) / max_leg_skew)
    depth = min(1.0, level / (2.0 * size))
    persistence = 0.5 + 0.5 * min(1.0, max(0.0, open_for) / horizon)
    return freshness * agreement * depth * persistence


def update_trend(
    episode: OpenEpisode, pct: float, now: float, halflife: float, threshold: float
) -> TrendDirection:
    """Classify `pct` against the EWMA of the earlier values, then fold it into the EWMA."""
    diff = pct - episode.ewma
    weight = 1.0 - 2.0 ** (-max(0.0, now - episode.ewma_at) / halflife)
    episode.ewma += weight * diff
    episode.ewma_at = now
    if diff > threshold:
        return "widening"
    if diff < -threshold:
        return "narrowing"
    return "stable"


def best_spread(quotes: list[Quote], cutoff: float) -> float | None:
    """max over venues A ≠ B of 100 · (net_bid_B − net_ask_A) / net_ask_A, among quotes
    received at or after `cutoff` with sizes; None with fewer than two such venues.
    One pass keeping the two best bids and the two best asks of distinct venues."""
    bid1 = bid2 = -INF
    ask1 = ask2 = INF
    bid_venue: Venue | None = None
    ask_venue: Venue | None = None
    for q in quotes:
        if q.received < cutoff or q.net_ask == INF:
            continue
        if q.net_bid > bid1:
            if q.venue is not bid_venue:
                bid2 = bid1
            bid1, bid_venue = q.net_bid, q.venue
        elif q.net_bid > bid2 and q.venue is not bid_venue:
            bid2 = q.net_bid
        if q.net_ask < ask1:
            if q.venue is not ask_venue:
                ask2 = ask1
            ask1, ask_venue = q.net_ask, q.venue
        elif q.net_ask < ask2 and q.venue is not ask_venue:
            ask2 = q.net_ask
    pairs = [(ask1, bid1)] if bid_venue is not ask_venue else [(ask1, bid2), (ask2, bid1)]
    spreads = [100.0 * (bid - ask) / ask for ask, bid in pairs if bid != -INF and ask != INF]
    return max(spreads) if spreads else None
