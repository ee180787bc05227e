"""The feed's small parts: URL rewriting, backoff, exchange id checks, client set-up."""

from __future__ import annotations

import pytest

from arbot.errors import ExchangeSetupError
from arbot.feeds import check_exchanges
from arbot.feeds.backoff import RETRY_AFTER_MAX, Backoff
from arbot.feeds.ccxt_client import ExchangeClient
from arbot.feeds.urls import rewrite_url, rewrite_urls
from arbot.settings import ExchangeSettings


def test_rewrite_keeps_paths_and_maps_websocket_schemes() -> None:
    base = "http://127.0.0.1:8123"
    assert rewrite_url("https://api.binance.com/api/v3", base) == "http://127.0.0.1:8123/api/v3"
    assert rewrite_url("wss://stream.binance.com:9443/ws", base) == "ws://127.0.0.1:8123/ws"
    assert rewrite_url("https://{hostname}", base) == "http://127.0.0.1:8123"
    assert rewrite_url("wss://x.com/v2", "https://proxy.local/p") == "wss://proxy.local/p/v2"


def test_rewrite_walks_nested_trees() -> None:
    tree = {
        "public": "https://a.com/x",
        "ws": {"spot": "wss://b.com/ws"},
        "list": ["https://c/d"],
        "n": 1,
    }
    assert rewrite_urls(tree, "http://h:1") == {
        "public": "http://h:1/x",
        "ws": {"spot": "ws://h:1/ws"},
        "list": ["http://h:1/d"],
        "n": 1,
    }


def test_backoff_doubles_to_a_cap_with_jitter_and_honours_retry_after() -> None:
    top = Backoff(1.0, 8.0, rng=lambda: 1.0)
    assert [top.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    bottom = Backoff(1.0, 8.0, rng=lambda: 0.0)
    assert bottom.next() == 0.5
    assert bottom.next(retry_after=30.0) == 30.0
    assert bottom.next(retry_after=10 * RETRY_AFTER_MAX) == RETRY_AFTER_MAX
    bottom.reset()
    assert bottom.next() == 0.5


def cfg(**kw: object) -> ExchangeSettings:
    return ExchangeSettings(**{"id": "binance", "symbols": ("BTC/USDT",), **kw})  # type: ignore[arg-type]


def test_check_exchanges_names_every_unknown_id() -> None:
    check_exchanges([cfg(), cfg(id="okx", name="o")])
    with pytest.raises(ExchangeSetupError, match=r"'a' \(id 'nope'\).*'b' \(id 'nada'\)"):
        check_exchanges([cfg(id="nope", name="a"), cfg(id="nada", name="b"), cfg()])


def test_client_applies_sandbox_then_url_override() -> None:
    plain = ExchangeClient(cfg(ccxt_options={"defaultType": "spot"}))
    sandbox = ExchangeClient(cfg(sandbox=True))
    local = ExchangeClient(cfg(sandbox=True, url_override="http://127.0.0.1:9"))
    assert plain.watch_method == "watch_bids_asks" and plain.fetch_method == "fetch_bids_asks"
    assert sandbox._ex.urls["api"]["public"] != plain._ex.urls["api"]["public"]
    assert local._ex.urls["api"]["public"].startswith("http://127.0.0.1:9/")
    assert local._ex.urls["api"]["ws"]["spot"].startswith("ws://127.0.0.1:9/")


def test_sandbox_without_test_urls_is_a_setup_error() -> None:
    with pytest.raises(ExchangeSetupError, match=r"'kr'.*sandbox"):
        ExchangeClient(cfg(id="kraken", name="kr", symbols=("BTC/USD",), sandbox=True))


def test_rest_only_exchange_polls_ticker_by_ticker() -> None:
    client = ExchangeClient(cfg(id="coinbaseexchange", symbols=("BTC/USD",)))
    assert client.fetch_method == "fetch_ticker"
