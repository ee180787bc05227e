"""What the tools print: JSON objects with --json; otherwise key-value lines or a table
whose numbers are fixed-point and right-aligned, fitting TABLE_WIDTH columns unless --wide.
Notes about the output (hidden columns, truncation) go to stderr, so pipes get data only."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

TABLE_WIDTH = 100
GAP = "  "

Format = Callable[[Any], str]


def fixed(decimals: int) -> Format:
    def fmt(value: Any) -> str:
        return f"{value:.{decimals}f}"

    return fmt


def number(value: Any) -> str:
    """Fixed-point with precision by magnitude: 61234.57, 1.2346, 0.000044."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    size = abs(value)
    decimals = 2 if size >= 100 else 4 if size >= 1 else 6 if size >= 1e-4 else 8
    return f"{value:.{decimals}f}"


def exact(value: Any) -> str:
    """A quote as the exchange sent it (shortest round-trip digits), never in e-notation:
    rounding a price or size to a fixed width would hide real digits."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return format(Decimal(repr(value)), "f")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str = ""
    fmt: Format = number

    @property
    def title(self) -> str:
        return self.header or self.key


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_mapping(data: Mapping[str, Any]) -> None:
    width = max((len(str(k)) for k in data), default=0)
    for key, value in data.items():
        print(f"{str(key).ljust(width)}  {_cell(value, number)}")


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column | str] | None = None,
    *,
    wide: bool = False,
) -> None:
    """Rows as a table; without `wide`, the rightmost columns that do not fit TABLE_WIDTH
    are left out and named on stderr."""
    if not rows:
        print("(no rows)")
        return
    cols = [c if isinstance(c, Column) else Column(c) for c in (columns or list(rows[0]))]
    cells = [[_cell(row.get(c.key), c.fmt) for c in cols] for row in rows]
    widths = [max(len(c.title), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    shown = len(cols)
    if not wide:
        total = 0
        for i, w in enumerate(widths):
            total += w + (len(GAP) if i else 0)
            if total > TABLE_WIDTH and i >= 1:
                shown = i
                break
    numeric = [all(_is_number(row.get(c.key)) for row in rows) for c in cols]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values[:shown], widths, numeric, strict=False)
        ]
        return GAP.join(parts).rstrip()

    print(line([c.title for c in cols]))
    print(line(["-" * w for w in widths]))
    for r in cells:
        print(line(r))
    if shown < len(cols):
        hidden = ", ".join(c.title for c in cols[shown:])
        note(f"({len(cols) - shown} more columns: {hidden}; --wide shows them)")


def note(text: str) -> None:
    print(text, file=sys.stderr)


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _cell(value: Any, fmt: Format) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return fmt(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return str(value)


def emit(
    data: Any,
    as_json: bool,
    *,
    columns: Sequence[Column | str] | None = None,
    wide: bool = False,
) -> None:
    """Print `data` as JSON, or as a table (list of mappings) / key-value lines (mapping)."""
    if as_json:
        print_json(data)
    elif isinstance(data, Mapping):
        print_mapping(data)
    else:
        print_table(list(data), columns, wide=wide)
