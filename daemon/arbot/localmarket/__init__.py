"""Fake exchanges on 127.0.0.1 speaking real wire formats, for tests and `arbot demo`."""

from arbot.localmarket.faults import QUOTE_FAULTS, Faults
from arbot.localmarket.quotes import Quote, RandomWalk, Replay
from arbot.localmarket.server import LocalExchange

__all__ = ["QUOTE_FAULTS", "Faults", "LocalExchange", "Quote", "RandomWalk", "Replay"]
