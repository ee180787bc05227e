"""Settling a paper trade whose two legs are filled: its fill or why it fails, and the
balances it moves."""

from __future__ import annotations

from arbot.balances import ROUNDING_GUARD, Balances, Fill, simulate_fill
from arbot.paper.trade import Trade


def fill_of(trade: Trade, *, funded: bool, max_loss_percent: float) -> Fill | str:
    """The trade's fill, or the reason it fails. Its quantity is the planned one, capped by
    what both legs' sides have left and, when funded, by what the quote lock pays for at the
    buy side's prices; each leg's price is its side's average over that quantity."""
    buy, sell = trade.buy, trade.sell
    q = min(trade.quantity, buy.side.left, sell.side.left)
    if funded:
        affordable = buy.side.affordable(trade.quote_lock, trade.fee_buy)
        q = min(q, affordable * (1.0 - ROUNDING_GUARD))
    if q <= 0.0:
        return _too_small(trade, 0.0)
    fill = simulate_fill(
        q,
        buy.side.price(q),
        sell.side.price(q),
        (trade.fee_buy, trade.fee_sell),
        (trade.planned_buy, trade.planned_sell),
    )
    if fill.notional < trade.min_notional:
        return _too_small(trade, fill.notional)
    if fill.profit_percent < -max_loss_percent:
        return (
            f"moved away: fill would return {fill.profit_percent:.4f}% < "
            f"-{max_loss_percent}% ({buy.exchange} ask {fill.buy_price:.8g} vs planned "
            f"{trade.planned_buy:.8g}, {sell.exchange} bid {fill.sell_price:.8g} vs planned "
            f"{trade.planned_sell:.8g})"
        )
    return fill


def _too_small(trade: Trade, notional: float) -> str:
    buy, sell = trade.buy, trade.sell
    return (
        f"too small: fillable notional {notional:.8g} {trade.quote} "
        f"< min_trade_amount {trade.min_notional:g} (quote sizes "
        f"{buy.side.describe(buy.exchange, 'ask')}, "
        f"{sell.side.describe(sell.exchange, 'bid')})"
    )


def transfer(balances: Balances, trade: Trade, fill: Fill) -> None:
    """Release the trade's locks and move what the fill bought, sold and paid."""
    b, buy_ex, sell_ex = balances, trade.buy.exchange, trade.sell.exchange
    b.release(trade.id, buy_ex, trade.quote)
    b.release(trade.id, sell_ex, trade.base)
    b.debit(buy_ex, trade.quote, fill.notional + fill.buy_fee)
    b.credit(buy_ex, trade.base, fill.quantity)
    b.debit(sell_ex, trade.base, fill.quantity)
    b.credit(sell_ex, trade.quote, fill.quantity * fill.sell_price - fill.sell_fee)
