"""Point a ccxt instance's URL tree at another server (a local fake, a proxy), keeping paths."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

_SECURE = {"https", "wss"}
_WEBSOCKET = {"ws", "wss"}


def rewrite_url(url: str, base: str) -> str:
    """`https://api.x.com/api/v3` with base `http://127.0.0.1:8000` -> `http://127.0.0.1:8000/api/v3`.
    Websocket URLs keep a websocket scheme (http base -> ws, https base -> wss)."""
    old = urlsplit(url)
    new = urlsplit(base)
    secure = new.scheme in _SECURE
    if old.scheme in _WEBSOCKET:
        scheme = "wss" if secure else "ws"
    else:
        scheme = "https" if secure else "http"
    path = new.path.rstrip("/") + old.path
    return urlunsplit((scheme, new.netloc, path, old.query, old.fragment))


def rewrite_urls(tree: Any, base: str) -> Any:
    """Rewrite every absolute URL in a nested dict/list of strings (ccxt's `urls['api']`)."""
    if isinstance(tree, str):
        return rewrite_url(tree, base) if "://" in tree else tree
    if isinstance(tree, dict):
        return {key: rewrite_urls(value, base) for key, value in tree.items()}
    if isinstance(tree, list):
        return [rewrite_urls(value, base) for value in tree]
    return tree
