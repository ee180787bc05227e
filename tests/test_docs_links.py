"""The README and docs/*.md hold together: every relative link points to a file that exists
and, with a `#anchor`, to a heading of that file (GitHub's slugs); each document has one
title and a link back to the README; the README keeps what CI, newcomers, error messages
and the shipped files point at (the make commands, the exit-code table, the sections named
as "README: ...")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`[^`]*`")


def prose(text: str) -> list[str]:
    """The lines outside fenced and indented code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or line.startswith("    ") or line.startswith("\t"):
            out.append("")
            continue
        out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(doc.read_text(encoding="utf-8")):
        if m := _HEADING.match(line):
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(doc: Path) -> list[str]:
    """Link targets of `doc`'s prose (links may wrap lines), code spans left out."""
    text = _CODE_SPAN.sub("", "\n".join(prose(doc.read_text(encoding="utf-8"))))
    return [m.group(2) for m in _LINK.finditer(text)]


def test_the_slugs_are_githubs() -> None:
    assert slug("Runtime overrides (`arbot config`)") == "runtime-overrides-arbot-config"
    assert slug("Metrics, health, alerts") == "metrics-health-alerts"
    assert slug("The tools against the service's data") == "the-tools-against-the-services-data"
    assert slug("Exchanges: tested and supported") == "exchanges-tested-and-supported"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT)}")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS[1:], ids=lambda d: d.relative_to(ROOT).as_posix())
def test_each_doc_has_a_title_and_a_way_back(doc: Path) -> None:
    lines = doc.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    assert sum(1 for line in prose("\n".join(lines)) if line.startswith("# ")) == 1
    assert "](../README.md" in doc.read_text(encoding="utf-8")


def test_the_readme_links_every_doc() -> None:
    targets = {t.partition("#")[0] for t in links(README)}
    assert {d.relative_to(ROOT).as_posix() for d in DOCS[1:]} <= targets


def test_the_readme_states_the_commands_and_the_exit_codes() -> None:
    """CI and newcomers run these as written; messages refer to "the README's table"."""
    text = README.read_text(encoding="utf-8")
    for command in ("make run", "make test", "make demo"):
        assert re.search(rf"^    {command}\b", text, re.M), command
    assert "exit-codes" in anchors(README)
    rows = re.findall(r"^\| ([0-5]) \|", text, re.M)
    assert rows == ["0", "1", "2", "3", "4", "5"]


def test_the_readme_sections_named_elsewhere_exist() -> None:
    """Messages and shipped files say `README: Scaling out` or `(README, "Running under
    systemd")`: the README keeps a heading of that name (it links on to docs/)."""
    named = set()
    files = [*(ROOT / "daemon" / "arbot").rglob("*.py"), *(ROOT / "systemd").iterdir()]
    files += [*(ROOT / "config").rglob("*.toml"), ROOT / "Makefile"]
    for file in files:
        text = file.read_text(encoding="utf-8")
        named |= set(re.findall(r"README: ([A-Z][\w ]*\w)", text))
        named |= set(re.findall(r'README, "([^"]+)"', text))
    assert named, "no README section is named anywhere any more: drop this test"
    missing = {n for n in named if slug(n) not in anchors(README)}
    assert not missing, missing
