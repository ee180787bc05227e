"""The paper executor: trades from signals, legs filled at later quotes and books."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from arbot.balances import Balances, InsufficientFunds
from arbot.detector.state import book_symbol, quote_group_names
from arbot.errors import ConfigError
from arbot.models import Book, ExchangeParams, ExecutionData, Signal, Tick, iso_utc
from arbot.paper.liquidity import BookSide, QuoteSide, Side
from arbot.paper.settlement import fill_of, transfer
from arbot.paper.trade import Trade, trade_params
from arbot.records import BalanceSnapshot, Record, SignalExecuted, TradeOpened, TradeSettled
from arbot.settings import PaperSettings

Key = tuple[str, str]  # (exchange, symbol)


class PaperExecutor:
    """Fed by the engine: `on_instant(ticks, now, books)`, `on_signal(signal_id, signal, now)`; its
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
        self._pending: dict[int, Trade] = {}
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
        trade = Trade(self._next_id, signal_id, signal, now)
        self._next_id += 1
        trade.due = now + self._latency
        trade.deadline = trade.due + s.max_fill_wait
        self.created += 1
        reason = self._plan(trade)
        self._emit(TradeOpened(trade.id, trade_params(trade, now)))
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

    def on_instant(self, ticks: Sequence[Tick], now: float, books: Sequence[Book] = ()) -> None:
        """The quotes and order books of one instant: each pending leg fills at the first
        book of its exchange and symbol among them, else at the first quote; then the
        trades with both legs filled settle, in creation order, so which trade gets a shared
        side does not depend on the order of the other exchanges' quotes."""
        self._housekeep(now)
        if not self._pending:  # the common case on the hot path: nothing waits for a fill
            return
        first: dict[Key, Book | Tick] = {}
        # Books first: a book and the quote taken from its top (same instant) are one
        # change, and the book holds more than the top.
        items: list[Book | Tick] = [*books, *ticks]
        for item in items:
            symbol = book_symbol(item.symbol, self._group_of) if self._group_of else item.symbol
            first.setdefault((item.exchange, symbol), item)
        # The asks and bids of each delivery legs fill at, shared by those legs.
        sides: dict[Key, tuple[Side, Side]] = {}
        for trade in self._pending.values():
            if now < trade.due or now <= trade.signal_now:
                continue
            for leg, index in ((trade.buy, 0), (trade.sell, 1)):
                key = (leg.exchange, trade.signal.symbol)
                if leg.at is not None or key not in first:
                    continue
                pair = sides.get(key)
                if pair is None:
                    pair = sides[key] = _sides(first[key])
                leg.fill(pair[index], now)
        for trade in [t for t in self._pending.values() if t.filled()]:
            self._settle(trade, now)

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

    def _plan(self, trade: Trade) -> str | None:
        """Size the trade and lock its funds; returns a failure reason or None."""
        sig = trade.signal
        pb, ps = self._params.get(sig.buy_exchange), self._params.get(sig.sell_exchange)
        if pb is None or ps is None:
            missing = sig.buy_exchange if pb is None else sig.sell_exchange
            return f"unfundable: exchange {missing!r} has no exchange_config entry"
        trade.fee_buy, trade.fee_sell = pb.taker_fee, ps.taker_fee
        trade.min_notional = max(pb.min_trade_amount, ps.min_trade_amount)
        buy_price = trade.planned_buy
        q = min(
            trade.quantity,
            pb.max_trade_amount / buy_price,
            ps.max_trade_amount / trade.planned_sell,
        )
        trade.quantity = q
        if q * buy_price < trade.min_notional:
            return (
                f"too small: signal notional {q * buy_price:.8g} {trade.quote} "
                f"< min_trade_amount {trade.min_notional:g}"
            )
        if not self._funded:
            return None
        unit_cost = buy_price * (1.0 + trade.fee_buy) * (1.0 + self._settings.lock_headroom)
        q = min(
            q,
            self.balances.free(sig.buy_exchange, trade.quote) / unit_cost,
            self.balances.free(sig.sell_exchange, trade.base),
        )
        if q * buy_price < trade.min_notional:
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

    def _settle(self, trade: Trade, now: float) -> None:
        del self._pending[trade.id]
        fill = fill_of(trade, funded=self._funded, max_loss_percent=self._settings.max_loss_percent)
        if isinstance(fill, str):
            self._fail_pending(trade, fill, now)
            return
        buy, sell = trade.buy, trade.sell
        buy.side.take(trade.id, fill.quantity)
        sell.side.take(trade.id, fill.quantity)
        if self._funded:
            transfer(self.balances, trade, fill)
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

    def _fail_pending(self, trade: Trade, reason: str, now: float) -> None:
        self._pending.pop(trade.id, None)
        if self._funded:
            self.balances.release(trade.id, trade.buy.exchange, trade.quote)
            self.balances.release(trade.id, trade.sell.exchange, trade.base)
        self._finish(
            trade,
            ExecutionData(status="failed", error_message=reason, completed_at=iso_utc(now)),
            now,
        )

    def _finish(self, trade: Trade, data: ExecutionData, now: float) -> None:
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


def _sides(item: Book | Tick) -> tuple[Side, Side]:
    """A delivery's asks (for buy legs) and bids (for sell legs)."""
    if isinstance(item, Book):
        return BookSide(item.asks), BookSide(item.bids)
    return QuoteSide(item.ask, item.ask_size), QuoteSide(item.bid, item.bid_size)
