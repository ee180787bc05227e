"""Exchange parameters from settings, and the one rule for exchanges seen only in data.

Replay and backtest use the same rule: an exchange quoted in the recorded data but absent
from the config trades with the defaults of an `[[exchanges]]` entry (ExchangeSettings:
taker fee 0.1 %, no premium baseline, trade limits 10 to 10,000 in quote currency), and
every summary says which exchanges got those defaults and the fees used for each.
"""

from __future__ import annotations

from collections.abc import Iterable

from arbot.models import ExchangeParams
from arbot.settings import ExchangeSettings


def params_of(e: ExchangeSettings) -> ExchangeParams:
    """The detector's view of one configured exchange (what exchange_config stores for it)."""
    return ExchangeParams(
        e.name,
        e.enabled,
        e.arbitrage_enabled,
        e.region,
        e.premium_baseline,
        e.maker_fee,
        e.taker_fee,
        e.min_trade_amount,
        e.max_trade_amount,
    )


def params_from_settings(exchanges: Iterable[ExchangeSettings]) -> dict[str, ExchangeParams]:
    """Parameters by exchange name straight from settings."""
    return {e.name: params_of(e) for e in exchanges}


def default_params(name: str) -> ExchangeParams:
    """An exchange the config does not name: an [[exchanges]] entry's defaults."""
    return params_of(ExchangeSettings(id=name, symbols=("X/Y",)))


def params_for_data(
    configured: Iterable[ExchangeSettings], seen: Iterable[str]
) -> tuple[dict[str, ExchangeParams], list[str]]:
    """Configured exchanges' parameters plus defaults for those only seen in the data; and
    the names that got defaults."""
    out = params_from_settings(configured)
    defaulted = [name for name in dict.fromkeys(seen) if name not in out]
    for name in defaulted:
        out[name] = default_params(name)
    return dict(sorted(out.items())), sorted(defaulted)
