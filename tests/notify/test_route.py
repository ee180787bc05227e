"""A target's filters: events, min_profit_percent / min_profit_quote, symbols, exchanges
(both legs); one opportunity per episode; a closing only where the opening was told; a feed
outage told once it lasted feed_down_after, and its end."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from arbot.models import Episode, Signal
from arbot.notify.route import Route
from arbot.settings import NotifyTarget


def signal(key: str = "BTC/USDT|kraken|okx", **fields: Any) -> Signal:
    base = Signal(
        symbol="BTC/USDT",
        buy_exchange="kraken",
        sell_exchange="okx",
        buy_price=100.0,
        sell_price=100.5,
        profit=0.4,
        profit_percent=0.4,
        buy_size=1.0,
        sell_size=1.0,
        confidence=0.8,
        trend_direction="stable",
        timestamp=1_700_000_000.0,
        episode_key=key,
    )
    return replace(base, **fields)


def episode(key: str = "BTC/USDT|kraken|okx", peak: float = 0.5) -> Episode:
    return Episode(key, "BTC/USDT", "kraken", "okx", 1.0, 5.0, peak, 3, 2, "spread closed")


def route(**settings: Any) -> Route:
    return Route(NotifyTarget(urls_env="X", name="t", **settings))


def test_one_opportunity_per_episode_then_its_closing() -> None:
    r = route()
    assert r.opportunity(signal())
    assert not r.opportunity(signal(profit_percent=0.9))  # the same episode improving
    assert r.closed(episode())
    assert r.opportunity(signal())  # a new episode of the same legs
    assert not r.closed(episode(key="never announced"))


def test_min_profit_percent_and_quote() -> None:
    r = route(min_profit_percent=0.5, min_profit_quote=2.0)
    assert not r.opportunity(signal(profit_percent=0.45, profit=5.0))
    assert not r.opportunity(signal(profit_percent=0.6, profit=1.5))
    # A later signal of the same episode that passes opens it for this target.
    assert r.opportunity(signal(profit_percent=0.6, profit=2.5))


def test_symbols_and_exchanges_need_both_legs() -> None:
    r = route(symbols=["ETH/USDT"])
    assert not r.opportunity(signal())
    assert r.opportunity(signal(key="e", symbol="ETH/USDT"))
    r = route(exchanges=["kraken", "binance"])
    assert not r.opportunity(signal())  # sells on okx
    assert r.opportunity(signal(key="b", sell_exchange="binance"))


def test_events_choose_what_is_told() -> None:
    r = route(events=["episode_closed"])
    assert not r.opportunity(signal())
    assert r.closed(episode(peak=0.5))  # no openings told: closings by their peak
    assert not route(events=["episode_closed"], min_profit_percent=0.6).closed(episode(peak=0.5))
    assert not route(events=["opportunity"]).closed(episode())
    assert not route(events=["feed_up"]).feeds({"okx": (0.0, None)}, {"okx"}, 100.0)


def test_a_feed_outage_is_told_once_it_lasts_and_its_end_once() -> None:
    r = route(feed_down_after=30.0, exchanges=["okx", "kraken"])
    down = {"okx": (100.0, "ws network: reset"), "binance": (100.0, None)}
    assert r.feeds(down, {"okx", "binance"}, 120.0) == []  # 20 s: a blip so far
    [told] = r.feeds(down, {"okx", "binance"}, 131.0)  # binance is filtered out
    assert told.event == "feed_down" and told.data["exchange"] == "okx"
    assert "ws network: reset" in told.text
    assert r.feeds(down, {"okx", "binance"}, 140.0) == []
    [back] = r.feeds({}, {"okx", "binance"}, 160.0)
    assert back.event == "feed_up" and back.text == "okx: data flows again after 1 min 0 s down"
    r.feeds(down, {"okx"}, 200.0)
    assert r.feeds({}, set(), 210.0) == []  # removed by a reload: forgotten, not "back"
