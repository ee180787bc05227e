"""The scenario table printed at the end of `make reliability`: one row per scenario (or
per case of a parametrised scenario) with the figures it measured."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(slots=True)
class Row:
    scenario: str
    outcome: str
    figures: dict[str, object] = field(default_factory=dict)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Summary:
    """Rows added by tests (through the session fixture `summary`), rendered once."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, scenario: str, outcome: str = "running") -> Row:
        row = Row(scenario, outcome)
        self.rows.append(row)
        return row

    def lines(self) -> list[str]:
        if not self.rows:
            return []
        cells = [
            (r.scenario, r.outcome, "  ".join(f"{k}={_fmt(v)}" for k, v in r.figures.items()))
            for r in self.rows
        ]
        w0 = max(len("scenario"), *(len(c[0]) for c in cells))
        w1 = max(len("outcome"), *(len(c[1]) for c in cells))
        out = [f"{'scenario'.ljust(w0)}  {'outcome'.ljust(w1)}  figures"]
        out.append(f"{'-' * w0}  {'-' * w1}  {'-' * 7}")
        out += [f"{a.ljust(w0)}  {b.ljust(w1)}  {c}".rstrip() for a, b, c in cells]
        return out


def brief(text: str, root: object, width: int = 90) -> str:
    """The last line of an error message (the `error` of a JSON log line), paths under
    `root` shortened, for a table cell."""
    last = (text.strip().splitlines() or [""])[-1]
    try:
        event = json.loads(last)
    except ValueError:
        event = None
    if isinstance(event, dict) and "error" in event:
        last = str(event["error"])
    return last.replace(f"{root}/", "").removeprefix("arbot: error: ")[:width]
