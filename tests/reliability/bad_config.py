"""Hypothesis strategies for broken daemon configs: a valid base document plus exactly one
defect that the settings must reject, with the key path the error message has to name."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# Letters that spell no bool word ('yes', 'on', 't', ...), no 'inf'/'nan', no valid literal
# and no known key: any text of them is a wrong value or an unknown key.
words = st.text(alphabet="qwxzk", min_size=1, max_size=8)
containers = st.one_of(
    st.lists(st.integers(0, 9), min_size=1, max_size=3),
    st.dictionaries(words, st.integers(0, 9), min_size=1, max_size=2),
)
fractional = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: x != int(x))
non_positive = st.floats(max_value=0, allow_nan=False, allow_infinity=False)


def bad_int(lo: int, hi: int | None = None) -> st.SearchStrategy[Any]:
    out = [st.integers(-(2**40), lo - 1), fractional, words, containers]
    if hi is not None:
        out.append(st.integers(hi + 1, 2**40))
    return st.one_of(out)


bad_positive = st.one_of(non_positive, words, containers)
bad_fraction = st.one_of(st.floats(1, 1e9), st.floats(-1e9, -1e-9), words)
bad_bool = st.one_of(st.integers(2, 100), st.integers(-100, -1), fractional, words, containers)
bad_literal = st.one_of(words, st.integers(), containers)
bad_hhmm = st.one_of(
    st.builds("{}:{:02d}".format, st.integers(24, 99), st.integers(0, 59)), words, st.integers()
)
bad_listen = st.one_of(words, st.builds("{}:{}".format, words, words), st.integers())
bad_symbols: st.SearchStrategy[Any] = st.one_of(
    words,  # a string, not a list
    st.lists(words, min_size=1, max_size=3),  # no '/'
    st.just([]),
    st.just(["BTC/USDT", "BTC/USDT"]),
    st.lists(st.integers(), min_size=1, max_size=2),
)
EX = ("exchanges", 0)

# (key path in the document, strategy of wrong values)
WRONG_VALUES: list[tuple[tuple[str | int, ...], st.SearchStrategy[Any]]] = [
    (("storage", "batch_size"), bad_int(1, 200_000)),
    (("storage", "linger_ms"), bad_int(1, 60_000)),
    (("storage", "queue_size"), bad_int(10, 10_000_000)),
    (("storage", "cache_size_kib"), bad_int(1024)),
    (("storage", "busy_timeout_ms"), bad_int(0)),
    (("storage", "conflate_ms"), bad_int(0)),
    (("storage", "skip_unchanged"), bad_bool),
    (("storage", "retry_max_seconds"), bad_positive),
    (("storage", "data_dir"), st.one_of(st.integers(), containers)),
    ((*EX, "id"), st.one_of(st.just(""), st.integers(), containers)),
    ((*EX, "name"), st.one_of(st.integers(), st.lists(words, min_size=1))),
    ((*EX, "symbols"), bad_symbols),
    ((*EX, "mode"), bad_literal),
    ((*EX, "poll_interval"), bad_positive),
    ((*EX, "watch_timeout"), bad_positive),
    ((*EX, "maker_fee"), bad_fraction),
    ((*EX, "taker_fee"), bad_fraction),
    ((*EX, "enabled"), bad_bool),
    ((*EX, "premium_baseline"), st.one_of(st.floats(10, 1e9), st.floats(-1e9, -1), words)),
    ((*EX, "url_override"), st.one_of(words, st.builds("ftp://{}".format, words))),
    ((*EX, "ccxt_options"), st.one_of(words, st.integers(), st.lists(st.integers()))),
    (("detector", "min_profit_percent"), st.one_of(st.floats(-1e9, -1e-9), words)),
    (("detector", "max_quote_age"), bad_positive),
    (("detector", "cooldown"), bad_positive),
    (("detector", "enabled"), bad_bool),
    (("detector", "quote_groups"), st.one_of(words, st.integers(), st.just([[1, 2]]))),
    (("metrics", "listen"), bad_listen),
    (("metrics", "healthy_after"), bad_positive),
    (("logging", "format"), bad_literal),
    (("logging", "level"), bad_literal),
    (("retention", "run_at"), bad_hhmm),
    (("retention", "tickers_days"), bad_positive),
    (("retention", "chunk_rows"), bad_int(100)),
    (("backup", "run_at"), bad_hhmm),
    (("backup", "keep_daily"), bad_int(1)),
    (("backup", "compress"), bad_bool),
    (("paper", "latency_ms"), bad_int(0)),
    (("paper", "min_confidence"), st.one_of(st.floats(1.001, 1e9), st.floats(-1e9, -1e-9))),
    (("paper", "balances"), st.just({"ex": {"USDT": -5}})),
    (("service", "grace_timeout"), bad_positive),
    (("service", "flow_window"), bad_positive),
]
SECTIONS = ("storage", "detector", "metrics", "logging", "retention", "backup", "paper", "service")


@dataclass(frozen=True, slots=True)
class Defect:
    doc: dict[str, Any]
    key: str  # what the error message must name
    what: str


def key_text(path: tuple[str | int, ...]) -> str:
    """How settings.py renders a key path: exchanges[0].symbols."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def base_doc(data_dir: Path, port: int) -> dict[str, Any]:
    """A valid config (the exchange's port is closed: nothing may ever connect there)."""
    return {
        "storage": {"data_dir": str(data_dir)},
        "metrics": {"listen": f"127.0.0.1:{port}"},
        "logging": {"format": "json"},
        "detector": {},
        "retention": {},
        "backup": {},
        "paper": {},
        "service": {},
        "exchanges": [
            {"id": "binance", "symbols": ["BTC/USDT"], "url_override": "http://127.0.0.1:9"}
        ],
    }


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@st.composite
def defects(draw: st.DrawFn, base: dict[str, Any]) -> Defect:
    doc = copy.deepcopy(base)
    kind = draw(st.sampled_from(["wrong_value", "unknown_key", "missing", "cross_field"]))
    if kind == "wrong_value":
        path, values = draw(st.sampled_from(WRONG_VALUES))
        value = draw(values)
        _set(doc, path, value)
        return Defect(doc, key_text(path), f"{key_text(path)} = {value!r}")
    if kind == "unknown_key":
        where = draw(st.sampled_from([(), EX, *((s,) for s in SECTIONS)]))
        name = draw(words)
        if where:
            _set(doc, (*where, name), 1)
        else:
            doc[name] = {"x": 1}
        return Defect(doc, key_text((*where, name)), f"unknown {key_text((*where, name))}")
    if kind == "missing":
        name = draw(st.sampled_from(["id", "symbols"]))
        del doc["exchanges"][0][name]
        return Defect(doc, key_text((*EX, name)), f"missing {name}")
    case = draw(st.sampled_from(["hysteresis", "trade_amount", "duplicate_name"]))
    if case == "hysteresis":
        doc["detector"].update(min_profit_percent=0.1, hysteresis_percent=draw(st.floats(0.11, 5)))
        return Defect(doc, "hysteresis_percent", "hysteresis > min_profit")
    if case == "trade_amount":
        doc["exchanges"][0].update(min_trade_amount=500.0, max_trade_amount=draw(st.floats(1, 499)))
        return Defect(doc, "min_trade_amount", "min_trade_amount > max_trade_amount")
    doc["exchanges"].append(copy.deepcopy(doc["exchanges"][0]))
    return Defect(doc, "used twice", "two exchanges with one name")


# Lines that make any TOML document invalid wherever they are inserted.
BROKEN_LINES = (
    "key = ",
    "[storage",
    'x = "unterminated',
    "x = 1 2",
    "[[exchanges]",
    "= 1",
    "x = [1, 2",
    "x = {a = 1",
    "x = 01",
    "x = tru",
    "x = 1979-13-45",
    "k = 'a' 'b'",
)
