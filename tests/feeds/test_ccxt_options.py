"""`ccxt_options` reaches ccxt's `options`: the shipped example loads spot markets only."""

from __future__ import annotations

from pathlib import Path

from arbot.feeds.ccxt_client import ExchangeClient
from arbot.localmarket import LocalExchange
from arbot.settings import load_settings

EXAMPLE = Path(__file__).parents[2] / "config" / "arbot.toml"
DERIVATIVES = ("/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo")


async def markets_requests(ccxt_options: dict[str, object] | None) -> dict[str, int]:
    """Load binance's markets from a fake with the shipped exchange entry (optionally with
    other ccxt_options); return the REST paths the fake was asked for."""
    shipped = load_settings(EXAMPLE).exchanges[0]
    assert shipped.id == "binance"
    async with LocalExchange("binance", rate=5) as fake:
        update: dict[str, object] = {
            "url_override": fake.url,
            "symbols": ("BTC/USDT",),
            "ccxt_config": {"enableRateLimit": False},
        }
        if ccxt_options is not None:
            update["ccxt_options"] = ccxt_options
        client = ExchangeClient(shipped.model_copy(update=update))
        try:
            await client.load_markets()
            assert callable(client._ex.fetch_markets)  # the method is not replaced by a dict
        finally:
            await client.close()
        return dict(fake.requests)


async def test_shipped_example_loads_spot_markets_only() -> None:
    """With the shipped ccxt_options no derivatives market list is fetched; without them
    ccxt's default (spot, linear, inverse) asks for both, so the option is what made it."""
    spot_only = await markets_requests(None)
    assert spot_only.get("/api/v3/exchangeInfo") == 1
    assert not any(spot_only.get(path) for path in DERIVATIVES)
    default = await markets_requests({})
    assert all(default.get(path) == 1 for path in DERIVATIVES)


def test_options_inside_ccxt_config_are_refused() -> None:
    """ccxt_config.options would be silently replaced by ccxt_options: refuse it by name."""
    import pytest

    from arbot.errors import ConfigError
    from arbot.settings import parse_settings

    doc = {
        "exchanges": [{"id": "binance", "symbols": ["BTC/USDT"], "ccxt_config": {"options": {}}}]
    }
    with pytest.raises(ConfigError, match=r"arbot.toml: exchanges\[0\]: ccxt_config.options"):
        parse_settings(doc, "arbot.toml")
