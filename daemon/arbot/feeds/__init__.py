"""Exchange side: one feed task per exchange turning ccxt quotes into validated ticks."""

from arbot.feeds.ccxt_client import check_exchanges
from arbot.feeds.feed import run_feed

__all__ = ["check_exchanges", "run_feed"]
