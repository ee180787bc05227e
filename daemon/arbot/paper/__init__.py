"""Paper (simulated) execution of arbitrage signals, sans-IO: fed by the engine.

For each signal passing the filters a trade is created (pending) and its funds locked; each
leg then fills at the FIRST delivery of its exchange and symbol that arrives after the
signal, at or after signal time + latency, never at the signal's own prices: the buy leg
at that delivery's asks, the sell leg at its bids. A delivery is the instant's order book
of the exchange and symbol (depth > 0) if there is one, else its quote. The trade settles
when both legs are filled: completed (balances updated, signal marked executed) or failed
with a reason:
  unfundable   the balances cannot fund the planned quantity (see PaperSettings.balances);
  too small    the fillable notional is below an exchange's min_trade_amount (sizes of
               zero or unknown count as no liquidity; see below for shared deliveries);
  moved away   the fill would lose more than paper.max_loss_percent of its notional;
  stale        a leg got no delivery within max_fill_wait after the fill time.
Both legs are evaluated together (an idealised engine that never legs into one side).
Time comes only from the `now` arguments, so a replay reproduces every trade exactly.

A trade plans its signal's size at its prices, or through books (`book_trade`) q* at the
legs' VWAPs. It fills that quantity, capped by what its two sides hold and by its quote
lock: at a quote, at its ask and bid; through a book, walking it from the best level down,
each leg at its VWAP over the quantity (`liquidity.BookSide`, on detector/depth.py).

A delivery is liquidity that trades use up: a completed trade takes its quantity from both
of its sides, and a trade settling later against the same side gets only what is left (the
trades that can settle after an instant go in creation order); a new delivery is new
liquidity. A trade takes only what it fills, i.e. capped by its other leg, so it never
holds back size it cannot use.

Arithmetic, in quote currency (the buy fee is paid in quote, the sell fee taken from the
proceeds; fees are each exchange's taker fee from exchange_config; ask and bid are a
book fill's VWAPs):
  fees = q·ask·taker_buy + q·bid·taker_sell,  profit = q·(bid − ask) − fees,
  slippage = q·((ask − planned_ask) + (planned_bid − bid))  (> 0: worse than the signal).
"""

from arbot.paper.executor import PaperExecutor

__all__ = ["PaperExecutor"]
