"""Quote rows of recorded data (read by recorded_csv.py), in two layouts told apart by
the header (extra columns are ignored):
- arbot: `ts,exchange,symbol,bid,bid_size,ask,ask_size`; unified symbols (BTC/USDT); empty
  sizes mean unknown depth; the received time is `ts`.
- Tardis `quotes`: `exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,
  bid_price,bid_amount`; `timestamp` is the exchange's time, `local_timestamp` the received
  time. Exchange names are kept; a symbol whose quote asset is one of QUOTE_ASSETS is
  unified (BTCUSDT, BTC-USDT, btc_usdt -> BTC/USDT, also for futures venues; the longest
  known suffix wins), others (BTC-PERPETUAL, BTCUSD_PERP, and XBTUSD: USD or TUSD?) are an
  error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from arbot.csv_input import Clock
from arbot.models import Tick

ARBOT_COLUMNS = ("ts", "exchange", "symbol", "bid", "bid_size", "ask", "ask_size")
TARDIS_COLUMNS = (
    *("exchange", "symbol", "timestamp", "local_timestamp"),
    *("ask_amount", "ask_price", "bid_price", "bid_amount"),
)
QUOTE_ASSETS = frozenset(
    {"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "TRY", "BRL", "JPY"}
    | {"BTC", "ETH", "BNB"}
)

QuoteParser = Callable[[list[str]], Tick]


def arbot_parser(names: Sequence[str], ts_of: Clock) -> QuoteParser:
    """Rows of the arbot layout under the header `names`; `ts_of` reads the `ts` column."""
    i_ts, i_exchange, i_symbol, i_bid, i_bid_size, i_ask, i_ask_size = (
        names.index(c) for c in ARBOT_COLUMNS
    )
    seconds = ts_of.seconds

    def parse(row: list[str]) -> Tick:
        ts = seconds(row[i_ts])
        bid, ask = _prices(row[i_bid], row[i_ask])
        exchange, symbol = row[i_exchange], row[i_symbol]
        if not exchange or "/" not in symbol:
            raise ValueError(f"need an exchange and a unified symbol, got {exchange!r} {symbol!r}")
        return Tick(
            exchange, symbol, bid, ask, _size(row[i_bid_size]), _size(row[i_ask_size]), ts, ts
        )

    return parse


def tardis_parser(names: Sequence[str], ts_of: Clock, local_of: Clock) -> QuoteParser:
    """Rows of the Tardis quotes layout under `names`; the clocks read `timestamp` and
    `local_timestamp` (shared with the file's book rows, so both keep one unit)."""
    i_exchange, i_symbol, i_ts, i_local, i_ask_size, i_ask, i_bid, i_bid_size = (
        names.index(c) for c in TARDIS_COLUMNS
    )
    ts_seconds, local_seconds = ts_of.seconds, local_of.seconds
    symbol_of = symbol_mapper(keep_unified=False)

    def parse(row: list[str]) -> Tick:
        ts, received = ts_seconds(row[i_ts]), local_seconds(row[i_local])
        bid, ask = _prices(row[i_bid], row[i_ask])
        exchange = row[i_exchange]
        symbol = symbol_of(row[i_symbol])
        if not exchange:
            raise ValueError("need an exchange")
        return Tick(
            exchange, symbol, bid, ask, _size(row[i_bid_size]), _size(row[i_ask_size]), ts, received
        )

    return parse


def symbol_mapper(*, keep_unified: bool) -> Callable[[str], str]:
    """unified_symbol with a cache (a file holds few symbols in many rows); with
    `keep_unified` a symbol with a `/` is kept as it is (BTC/USDT:USDT too)."""
    symbols: dict[str, str] = {}

    def unified(raw: str) -> str:
        symbol = symbols.get(raw)
        if symbol is None:
            keep = keep_unified and "/" in raw
            symbol = symbols[raw] = raw if keep else unified_symbol(raw)
        return symbol

    return unified


def unified_symbol(raw: str) -> str:
    """A Tardis (exchange-native) symbol as BASE/QUOTE when its quote asset is known."""
    text = raw.strip().upper()
    base, sep, quote = text.replace("_", "-").replace("/", "-").partition("-")
    if not sep:
        ends = [q for q in QUOTE_ASSETS if text.endswith(q) and q != text]
        quote = max(ends, key=len, default="")  # BTCFDUSD is BTC/FDUSD, not BTCFD/USD
        base = text.removesuffix(quote)
        if quote == "TUSD" or (quote == "USD" and base.endswith("T")):
            raise ValueError(f"symbol {raw!r} is ambiguous: quoted in USD or in TUSD?")
    if base.isalnum() and quote in QUOTE_ASSETS:
        return f"{base}/{quote}"
    raise ValueError(f"cannot map symbol {raw!r} to BASE/QUOTE (known quote assets only)")


def _prices(bid_text: str, ask_text: str) -> tuple[float, float]:
    bid, ask = float(bid_text), float(ask_text)
    if not 0.0 < bid <= ask < math.inf:
        raise ValueError(f"need 0 < bid <= ask, got bid {bid} ask {ask}")
    return bid, ask


def _size(text: str) -> float | None:
    if text == "":
        return None
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"size must be a non-negative number, got {text!r}")
    return value
