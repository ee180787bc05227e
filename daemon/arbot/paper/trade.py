"""A paper trade as the executor tracks it, and what its signal plans."""

from __future__ import annotations

from arbot.balances import split_symbol
from arbot.models import Signal, TradeParams, iso_utc
from arbot.paper.liquidity import Leg


class Trade:
    __slots__ = (
        "base",
        "buy",
        "deadline",
        "due",
        "fee_buy",
        "fee_sell",
        "id",
        "min_notional",
        "planned_buy",
        "planned_sell",
        "quantity",
        "quote",
        "quote_lock",
        "sell",
        "signal",
        "signal_id",
        "signal_now",
    )

    def __init__(self, trade_id: int, signal_id: int, signal: Signal, now: float) -> None:
        self.id = trade_id
        self.signal_id = signal_id
        self.signal = signal
        self.signal_now = now
        self.base, self.quote = split_symbol(signal.symbol)
        self.buy = Leg(signal.buy_exchange)
        self.sell = Leg(signal.sell_exchange)
        # A signal through order books plans q* at its legs' VWAPs; one at the top of book,
        # its size at its prices.
        book = signal.book_trade
        if book is None:
            self.planned_buy, self.planned_sell = signal.buy_price, signal.sell_price
            self.quantity = min(signal.buy_size, signal.sell_size)
        else:
            self.planned_buy, self.planned_sell = book.buy_vwap, book.sell_vwap
            self.quantity = book.quantity
        self.quote_lock = 0.0
        self.fee_buy = self.fee_sell = 0.0
        self.min_notional = 0.0
        self.due = self.deadline = now

    def filled(self) -> bool:
        """Both legs have their quote: the trade can settle."""
        return self.buy.at is not None and self.sell.at is not None


def trade_params(trade: Trade, now: float) -> TradeParams:
    sig = trade.signal
    q, buy, sell = trade.quantity, trade.planned_buy, trade.planned_sell
    return TradeParams(
        signal_id=trade.signal_id,
        symbol=sig.symbol,
        buy_exchange=sig.buy_exchange,
        sell_exchange=sig.sell_exchange,
        planned_buy_price=buy,
        planned_sell_price=sell,
        quantity=q,
        planned_profit=q * (sell - buy) - q * (buy * trade.fee_buy + sell * trade.fee_sell),
        started_at=iso_utc(now),
    )
