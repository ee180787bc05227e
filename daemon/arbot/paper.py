"""Paper (simulated) execution of arbitrage signals, sans-IO: fed by the engine.

For each signal passing the filters a trade is created (pending) and its funds locked; each
leg then fills against the FIRST quote of its exchange and symbol that arrives after the
signal, at or after signal time + latency (the buy leg at that quote's ask, the sell leg at
its bid), never against the signal's own prices. The trade settles when both legs have a
quote: completed (balances updated, signal marked executed) or failed with a reason:
  unfundable   the balances cannot fund the planned quantity (see PaperSettings.balances);
  too small    the fillable notional is below an exchange's min_trade_amount (quote sizes of
               zero or unknown count as no liquidity; see below for shared quotes);
  moved away   the fill would lose more than paper.max_loss_percent of its notional;
  stale        a leg got no quote within max_fill_wait after the fill time.
Both legs are evaluated together (an idealised engine that never legs into one side).
Time comes only from the `now` arguments, so a replay reproduces every trade exactly.

A quote is liquidity that trades use up: a completed trade takes its quantity from both of
its quotes, and a trade settling later against the same quote gets only what is left (the
trades that can settle after an instant's quotes go in creation order). A trade takes only
what it fills, i.e. capped by its other leg, so it never holds back size it cannot use.

Arithmetic, in quote currency (the buy fee is paid in quote, the sell fee taken from the
proceeds; fees are each exchange's taker fee from exchange_config):
  fees = q·ask·taker_buy + q·bid·taker_sell,  profit = q·(bid − ask) − fees,
  slippage = q·((ask − planned_ask) + (planned_bid − bid))  (> 0: worse than the signal).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from arbot.balances import (
    ROUNDING_GUARD,
    Balances,
    Fill,
    InsufficientFunds,
    simulate_fill,
    split_symbol,
)
from arbot.detector.state import book_symbol, quote_group_names
from arbot.errors import ConfigError
from arbot.models import ExchangeParams, ExecutionData, Signal, Tick, TradeParams, iso_utc
from arbot.records import BalanceSnapshot, Record, SignalExecuted, TradeOpened, TradeSettled
from arbot.settings import PaperSettings


class _Depth:
    """One side of one delivered quote: its size, what is left of it, and who took the rest."""

    __slots__ = ("left", "size", "taken")

    def __init__(self, size: float | None) -> None:
        self.size = size
        self.left = size or 0.0  # unknown depth counts as none
        self.taken: list[tuple[int, float]] = []  # (trade id, quantity) in settlement order

    def take(self, trade_id: int, quantity: float) -> None:
        self.left -= quantity  # never below 0: a fill is capped by `left`
        self.taken.append((trade_id, quantity))

    def describe(self) -> str:
        """The size as quoted and, if trades used some of it, which and how much is left."""
        if self.size is None:
            return "unknown"
        if not self.taken:
            return f"{self.size:.8g}"
        ids = ", ".join(str(trade_id) for trade_id, _ in self.taken)
        took = math.fsum(q for _, q in self.taken)
        trades = "trade" if len(self.taken) == 1 else "trades"
        return f"{self.size:.8g} ({trades} {ids} took {took:.8g}, {self.left:.8g} left)"


class _Leg:
    __slots__ = ("at", "depth", "exchange", "price")

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.price = 0.0
        self.depth = _Depth(None)
        self.at: float | None = None

    def fill(self, price: float, depth: _Depth, now: float) -> None:
        self.price = price
        self.depth = depth
        self.at = now


class _Trade:
    __slots__ = (
        "base",
        "buy",
        "deadline",
        "due",
        "fee_buy",
        "fee_sell",
        "id",
        "min_notional",
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
        self.buy = _Leg(signal.buy_exchange)
        self.sell = _Leg(signal.sell_exchange)
        self.quantity = 0.0
        self.quote_lock = 0.0
        self.fee_buy = self.fee_sell = 0.0
        self.min_notional = 0.0
        self.due = self.deadline = now

    def filled(self) -> bool:
        """Both legs have their quote: the trade can settle."""
        return self.buy.at is not None and self.sell.at is not None


class PaperExecutor:
    """Fed by the engine: `on_instant(ticks, now)`, `on_signal(signal_id, signal, now)`; its
    records go to `emit`. With no `balances` configured funding is not simulated (no locks,
    no snapshots). `resumed` balances (a previous run's last snapshot) replace the
    configured amounts of the exchanges and assets they hold."""

    def __init__(
        self,
        settings: PaperSettings,
        params: Mapping[str, ExchangeParams],
        emit: Callable[[Record], object],
        quote_groups: Sequence[Sequence[str]] = (),
        *,
        first_trade_id: int = 1,
        resumed: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        self._settings = settings
        # As in the detector, quotes of one group count as one asset: a signal's symbol is
        # then e.g. BTC/USDT for legs on BTC/USDT and BTC/USDC.
        self._group_of = quote_group_names(quote_groups)
        self._params = params
        self._emit = emit
        self._next_id = first_trade_id
        self._latency = settings.latency_ms / 1000.0
        self._funded = bool(settings.balances)
        for exchange in settings.balances:
            if exchange not in params:
                raise ConfigError(
                    f"paper.balances.{exchange}: no such exchange (configured: "
                    f"{', '.join(sorted(params)) or 'none'})"
                )
        allocation = {ex: dict(assets) for ex, assets in settings.balances.items()}
        for exchange, assets in (resumed or {}).items():
            if exchange in allocation:
                allocation[exchange].update(assets)
        self.balances = Balances(allocation)
        self._pending: dict[int, _Trade] = {}
        self._next_snapshot: float | None = None
        self.created = self.completed = self.failed = 0

    def reconfigure(self, settings: PaperSettings, params: Mapping[str, ExchangeParams]) -> None:
        """New filters, latency, waits and fees for trades from now on (balances need a
        restart: they are the running account)."""
        self._settings = settings
        self._params = params
        self._latency = settings.latency_ms / 1000.0

    def pending(self) -> int:
        return len(self._pending)

    def on_signal(self, signal_id: int, signal: Signal, now: float) -> None:
        self._housekeep(now)
        s = self._settings
        if signal.confidence < s.min_confidence or signal.profit_percent < s.min_profit_percent:
            return
        trade = _Trade(self._next_id, signal_id, signal, now)
        self._next_id += 1
        trade.due = now + self._latency
        trade.deadline = trade.due + s.max_fill_wait
        self.created += 1
        reason = self._plan(trade)
        self._emit(TradeOpened(trade.id, _trade_params(trade, now)))
        if reason:
            self._finish(
                trade,
                ExecutionData(status="failed", error_message=reason, completed_at=iso_utc(now)),
                now,
            )
        else:
            self._pending[trade.id] = trade

    def on_tick(self, tick: Tick, now: float) -> None:
        """A quote alone in its instant."""
        self.on_instant((tick,), now)

    def on_instant(self, ticks: Sequence[Tick], now: float) -> None:
        """The quotes of one instant: each pending leg fills at the first quote of its
        exchange among them; then the trades with both legs filled settle, in creation order,
        so which trade gets a shared quote's size does not depend on the order of the other
        exchanges' quotes."""
        self._housekeep(now)
        if not self._pending:  # the common case on the hot path: nothing waits for a fill
            return
        for tick in ticks:
            self._fill(tick, now)
        for trade in [t for t in self._pending.values() if t.filled()]:
            self._settle(trade, now)

    def _fill(self, tick: Tick, now: float) -> None:
        symbol = book_symbol(tick.symbol, self._group_of) if self._group_of else tick.symbol
        # This quote's two sides, shared by every leg filling at it; sizes are taken at
        # settlement, when a trade knows how much both of its legs can fill.
        ask: _Depth | None = None
        bid: _Depth | None = None
        for trade in self._pending.values():
            if trade.signal.symbol != symbol or now < trade.due or now <= trade.signal_now:
                continue
            buy, sell = trade.buy, trade.sell
            if buy.at is None and buy.exchange == tick.exchange:
                if ask is None:
                    ask = _Depth(tick.ask_size)
                buy.fill(tick.ask, ask, now)
            if sell.at is None and sell.exchange == tick.exchange:
                if bid is None:
                    bid = _Depth(tick.bid_size)
                sell.fill(tick.bid, bid, now)

    def on_time(self, now: float) -> None:
        """Time passed without ticks: fail trades past their deadline, snapshot if due."""
        self._housekeep(now)

    def expire_all(self, now: float, reason: str) -> None:
        """Fail every pending trade (end of a backtest's input, daemon shutdown)."""
        for trade in list(self._pending.values()):
            self._fail_pending(trade, f"stale: {reason}", now)

    def _housekeep(self, now: float) -> None:
        for trade in list(self._pending.values()):
            if now > trade.deadline:
                missing = " and ".join(
                    f"{leg.exchange} {side}"
                    for leg, side in ((trade.buy, "ask"), (trade.sell, "bid"))
                    if leg.at is None
                )
                self._fail_pending(
                    trade,
                    f"stale: no {missing} quote within max_fill_wait="
                    f"{self._settings.max_fill_wait:g}s of the fill time",
                    now,
                )
        if self._funded and (self._next_snapshot is None or now >= self._next_snapshot):
            self._snapshot(now)

    def _plan(self, trade: _Trade) -> str | None:
        """Size the trade and lock its funds; returns a failure reason or None."""
        sig = trade.signal
        pb, ps = self._params.get(sig.buy_exchange), self._params.get(sig.sell_exchange)
        if pb is None or ps is None:
            missing = sig.buy_exchange if pb is None else sig.sell_exchange
            return f"unfundable: exchange {missing!r} has no exchange_config entry"
        trade.fee_buy, trade.fee_sell = pb.taker_fee, ps.taker_fee
        trade.min_notional = max(pb.min_trade_amount, ps.min_trade_amount)
        q = min(
            sig.buy_size,
            sig.sell_size,
            pb.max_trade_amount / sig.buy_price,
            ps.max_trade_amount / sig.sell_price,
        )
        trade.quantity = q
        if q * sig.buy_price < trade.min_notional:
            return (
                f"too small: signal notional {q * sig.buy_price:.8g} {trade.quote} "
                f"< min_trade_amount {trade.min_notional:g}"
            )
        if not self._funded:
            return None
        unit_cost = sig.buy_price * (1.0 + trade.fee_buy) * (1.0 + self._settings.lock_headroom)
        q = min(
            q,
            self.balances.free(sig.buy_exchange, trade.quote) / unit_cost,
            self.balances.free(sig.sell_exchange, trade.base),
        )
        if q * sig.buy_price < trade.min_notional:
            free_q = self.balances.free(sig.buy_exchange, trade.quote)
            free_b = self.balances.free(sig.sell_exchange, trade.base)
            return (
                f"unfundable: {sig.buy_exchange} has {free_q:.8g} {trade.quote} free, "
                f"{sig.sell_exchange} has {free_b:.8g} {trade.base} free; need "
                f"{trade.min_notional:g} {trade.quote} notional at least"
            )
        trade.quantity = q
        trade.quote_lock = q * unit_cost
        try:
            self.balances.lock(trade.id, sig.buy_exchange, trade.quote, trade.quote_lock)
        except InsufficientFunds:  # q was shaved by division rounding only: lock what is free
            trade.quote_lock = self.balances.free(sig.buy_exchange, trade.quote)
            self.balances.lock(trade.id, sig.buy_exchange, trade.quote, trade.quote_lock)
        self.balances.lock(trade.id, sig.sell_exchange, trade.base, q)
        return None

    def _settle(self, trade: _Trade, now: float) -> None:
        del self._pending[trade.id]
        buy, sell = trade.buy, trade.sell
        q = min(trade.quantity, buy.depth.left, sell.depth.left)
        if self._funded:
            affordable = trade.quote_lock / (buy.price * (1.0 + trade.fee_buy))
            q = min(q, affordable * (1.0 - ROUNDING_GUARD))
        sig = trade.signal
        fill = simulate_fill(
            q,
            buy.price,
            sell.price,
            (trade.fee_buy, trade.fee_sell),
            (sig.buy_price, sig.sell_price),
        )
        reason = None
        if fill.notional < trade.min_notional or q <= 0:
            reason = (
                f"too small: fillable notional {fill.notional:.8g} {trade.quote} "
                f"< min_trade_amount {trade.min_notional:g} (quote sizes "
                f"{buy.exchange} ask {buy.depth.describe()}, "
                f"{sell.exchange} bid {sell.depth.describe()})"
            )
        elif fill.profit_percent < -self._settings.max_loss_percent:
            reason = (
                f"moved away: fill would return {fill.profit_percent:.4f}% < "
                f"-{self._settings.max_loss_percent}% ({buy.exchange} ask "
                f"{fill.buy_price:.8g} vs planned {sig.buy_price:.8g}, "
                f"{sell.exchange} bid {fill.sell_price:.8g} vs planned "
                f"{sig.sell_price:.8g})"
            )
        if reason:
            self._fail_pending(trade, reason, now)
            return
        buy.depth.take(trade.id, fill.quantity)
        sell.depth.take(trade.id, fill.quantity)
        if self._funded:
            self._transfer(trade, fill)
        completed_at = iso_utc(max(buy.at or now, sell.at or now))
        self._finish(
            trade,
            ExecutionData(
                status="completed",
                buy_order_id=f"paper-{trade.id}-buy",
                sell_order_id=f"paper-{trade.id}-sell",
                actual_buy_price=fill.buy_price,
                actual_sell_price=fill.sell_price,
                actual_profit=fill.profit,
                fees_paid=fill.fees,
                slippage=fill.slippage,
                completed_at=completed_at,
                quantity=fill.quantity,
            ),
            now,
        )
        self._emit(SignalExecuted(trade.signal_id))

    def _transfer(self, trade: _Trade, fill: Fill) -> None:
        b, buy_ex, sell_ex = self.balances, trade.buy.exchange, trade.sell.exchange
        b.release(trade.id, buy_ex, trade.quote)
        b.release(trade.id, sell_ex, trade.base)
        b.debit(buy_ex, trade.quote, fill.notional + fill.buy_fee)
        b.credit(buy_ex, trade.base, fill.quantity)
        b.debit(sell_ex, trade.base, fill.quantity)
        b.credit(sell_ex, trade.quote, fill.quantity * fill.sell_price - fill.sell_fee)

    def _fail_pending(self, trade: _Trade, reason: str, now: float) -> None:
        self._pending.pop(trade.id, None)
        if self._funded:
            self.balances.release(trade.id, trade.buy.exchange, trade.quote)
            self.balances.release(trade.id, trade.sell.exchange, trade.base)
        self._finish(
            trade,
            ExecutionData(status="failed", error_message=reason, completed_at=iso_utc(now)),
            now,
        )

    def _finish(self, trade: _Trade, data: ExecutionData, now: float) -> None:
        if data.status == "completed":
            self.completed += 1
        else:
            self.failed += 1
        self._emit(TradeSettled(trade.id, data))
        if self._funded:
            self._snapshot(now)

    def _snapshot(self, now: float) -> None:
        self._emit(BalanceSnapshot(tuple(self.balances.rows()), now))
        self._next_snapshot = now + self._settings.snapshot_interval


def _trade_params(trade: _Trade, now: float) -> TradeParams:
    sig = trade.signal
    return TradeParams(
        signal_id=trade.signal_id,
        symbol=sig.symbol,
        buy_exchange=sig.buy_exchange,
        sell_exchange=sig.sell_exchange,
        planned_buy_price=sig.buy_price,
        planned_sell_price=sig.sell_price,
        quantity=trade.quantity,
        planned_profit=(
            trade.quantity * (sig.sell_price - sig.buy_price)
            - trade.quantity * (sig.buy_price * trade.fee_buy + sig.sell_price * trade.fee_sell)
        ),
        started_at=iso_utc(now),
    )
