"""Which worker runs which exchanges: balanced by symbols at start, sticky on reload (an
exchange stays where it runs, so only the workers whose share changes restart)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from arbot.reload import feed_changed
from arbot.settings import ExchangeSettings

Shares = list[tuple[ExchangeSettings, ...]]


def assign(exchanges: Iterable[ExchangeSettings], count: int) -> Shares:
    """`count` shares: the exchanges with most symbols first, each to the lightest share."""
    return reassign([()] * count, exchanges)


def reassign(
    shares: Sequence[tuple[ExchangeSettings, ...]], after: Iterable[ExchangeSettings]
) -> Shares:
    """The shares for the exchanges `after` a reload: each kept exchange where it was (with
    its new settings), a new one to the share with the fewest symbols."""
    new = {e.name: e for e in after}
    out: Shares = [tuple(new[e.name] for e in share if e.name in new) for share in shares]
    placed = {e.name for share in out for e in share}
    for cfg in sorted(new.values(), key=lambda e: (-len(e.symbols), e.name)):
        if cfg.name not in placed:
            i = min(range(len(out)), key=lambda k: (sum(len(e.symbols) for e in out[k]), k))
            out[i] = (*out[i], cfg)
    return out


def share_changed(
    before: tuple[ExchangeSettings, ...], after: tuple[ExchangeSettings, ...]
) -> bool:
    """Whether a worker must restart: an exchange added, removed or changed in what its
    feed uses."""
    old = {e.name: e for e in before}
    new = {e.name: e for e in after}
    return old.keys() != new.keys() or any(feed_changed(old[n], new[n]) for n in old)
