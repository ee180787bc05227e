"""Property: a value of the wrong type for any known key is a ConfigError naming the file and
the key path, never another exception and never silently accepted."""

from __future__ import annotations

import datetime
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from arbot.errors import ConfigError
from arbot.settings import ExchangeSettings, NotifyTarget, Settings, parse_settings

SOURCE = "/etc/arbot/arbot.toml"
EXCHANGE = {"id": "binance", "symbols": ["BTC/USDT"]}
# Arrays of tables, each checked through a valid first entry.
ENTRIES: dict[str, dict[str, Any]] = {"exchanges": EXCHANGE, "notify": {"urls_env": "URLS"}}


def kind(annotation: Any) -> str:
    """The TOML type a key takes: int, float, bool, str, path, enum, array or table."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        # Optional: the type; int | "auto" (feeds.workers): an int
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "enum"
    if origin is tuple:
        return "array"
    if origin is dict:
        return "table"
    names = {bool: "bool", int: "int", float: "float", str: "str", Path: "path"}
    return names[annotation]


def known_keys() -> list[tuple[tuple[str | int, ...], str]]:
    """Every leaf key of the settings (exchanges and notify targets through a valid first
    entry), with its kind."""
    keys: list[tuple[tuple[str | int, ...], str]] = [(("exchanges",), "array")]
    keys.append((("notify",), "array"))
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            keys += [((section, k), kind(f.annotation)) for k, f in model.model_fields.items()]
    for section, entry in (("exchanges", ExchangeSettings), ("notify", NotifyTarget)):
        keys += [((section, 0, k), kind(f.annotation)) for k, f in entry.model_fields.items()]
    return keys


KEYS = known_keys()
LAX_BOOL_STRINGS = {"0", "1", "t", "f", "y", "n", "on", "off", "yes", "no", "true", "false"}
TEXT = st.text(max_size=8).filter(lambda s: s.strip().lower() not in LAX_BOOL_STRINGS)
ARRAY = st.lists(st.integers(), max_size=2)
TABLE = st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
DATES = st.datetimes() | st.dates() | st.times()
NOT_A_NUMBER = TEXT.filter(lambda s: not is_number(s))
# Values of another TOML type that are wrong for each kind and rejected today.
WRONG = {
    "int": NOT_A_NUMBER | st.floats().filter(lambda x: not x.is_integer()) | ARRAY | TABLE | DATES,
    "float": NOT_A_NUMBER | ARRAY | TABLE | DATES,
    "bool": TEXT | st.integers().filter(lambda i: i not in (0, 1)) | ARRAY | TABLE | DATES,
    "str": st.integers() | st.floats() | st.booleans() | ARRAY | TABLE | DATES,
    "path": st.integers() | st.floats() | st.booleans() | ARRAY | TABLE | DATES,
    "enum": TEXT | st.integers() | st.booleans() | ARRAY | TABLE,
    "array": st.integers() | st.floats() | st.booleans() | TABLE | DATES,
    "table": st.integers() | st.floats() | st.booleans() | TEXT | ARRAY | DATES,
}
# Wrong types that pydantic's lax mode coerces silently today: true for a number, a number
# for a boolean, numbers written as strings, 5.0 for an integer.
COERCED = {
    "int": st.booleans() | st.integers(-5, 10**6).map(str) | st.integers(-5, 10**6).map(float),
    "float": st.booleans() | st.floats(0.5, 1e6).map(str),
    "bool": st.sampled_from([0, 1, 0.0, 1.0, "true", "yes", "on", "0"]),
}


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def document(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """A config that is valid except for `value` at `path`."""
    if len(path) == 3:
        return {str(path[0]): [{**ENTRIES[str(path[0])], str(path[2]): value}]}
    if len(path) == 1:
        return {str(path[0]): value}
    return {str(path[0]): {str(path[1]): value}}


def key_path(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def assert_named_error(path: tuple[str | int, ...], value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(document(path, value), SOURCE)
    assert f"{SOURCE}: {key_path(path)}" in str(info.value)


def test_every_section_is_covered() -> None:
    sections = {p[0] for p, _ in KEYS}
    assert sections == set(Settings.model_fields)
    assert len(KEYS) > 60


@given(data=st.data())
def test_wrong_types_are_config_errors_naming_the_key(data: st.DataObject) -> None:
    path, key_kind = data.draw(st.sampled_from(KEYS), label="key")
    value = data.draw(WRONG[key_kind], label="value")
    assert_named_error(path, value)


COERCIBLE_KEYS = [(p, k) for p, k in KEYS if k in COERCED]


@given(data=st.data())
@example(data=None).via("true for an integer")
def test_coercible_wrong_types_are_rejected_too(data: st.DataObject | None) -> None:
    if data is None:  # the explicit example, so the failure is deterministic
        assert_named_error(("storage", "batch_size"), True)
        return
    path, key_kind = data.draw(st.sampled_from(COERCIBLE_KEYS), label="key")
    assert_named_error(path, data.draw(COERCED[key_kind], label="value"))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("storage", "batch_size"), True),
        (("storage", "batch_size"), "5000"),
        (("storage", "batch_size"), 5000.0),
        (("detector", "cooldown"), "60"),
        (("detector", "enabled"), 1),
        (("exchanges", 0, "sandbox"), "yes"),
        (("exchanges", 0, "taker_fee"), False),
    ],
)
def test_coercions_that_hide_typos(path: tuple[str | int, ...], value: object) -> None:
    assert_named_error(path, value)


@given(value=st.floats(min_value=-1e6, max_value=1e6) | st.integers(-(10**6), 10**6))
def test_integers_are_fine_for_floats(value: float) -> None:
    """TOML writes `cooldown = 60`; that is a number, not a type error."""
    try:
        settings = parse_settings(document(("detector", "cooldown"), value), SOURCE)
    except ConfigError as exc:
        assert str(exc).startswith(f"{SOURCE}: detector.cooldown: Input should be greater")
    else:
        assert settings.detector.cooldown == value


def test_dates_are_not_strings() -> None:
    """A TOML date where a string belongs (run_at = 03:30 without quotes) is named."""
    assert_named_error(("retention", "run_at"), datetime.time(3, 30))
