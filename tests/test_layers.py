"""The package's layers, in one place, checked on every import statement (module level or
inside a function) of daemon/arbot: a new edge that runs the wrong way fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "daemon" / "arbot"

# What runs the process or talks to a person.
_OUTER = (
    "arbot.app",
    "arbot.cli",
    "arbot.demo",
    "arbot.systemd",
    "arbot.metrics_server",
    "arbot.http_connections",
)
# Where data goes, and what drives the engine (sources, sinks, the runtime around them).
_IO = (
    "arbot.storage",
    "arbot.pipeline",
    "arbot.sink",
    "arbot.scheduler",
    "arbot.replay",
    "arbot.feedset",
)

# module (or package) -> the modules it must not import.
LAYERS: dict[str, tuple[str, ...]] = {
    # The sans-IO core: the same in the daemon, replays and backtests.
    "arbot.models": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.records": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.rollup": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.balances": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.conflation": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.detector": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.paper": (*_OUTER, *_IO, "arbot.engine", "arbot.feeds", "arbot.health"),
    "arbot.engine": (*_OUTER, *_IO, "arbot.feeds", "arbot.health"),
    # Sources: exchanges in, validated ticks out; they know nothing downstream.
    "arbot.feeds": (*_OUTER, *_IO, "arbot.engine", "arbot.detector", "arbot.health"),
    # Feed worker processes: the feeds elsewhere, delivering into the tick queue (with the
    # flow monitor and metrics); nothing of what consumes the queue.
    "arbot.workers": (*_OUTER, *_IO, "arbot.engine", "arbot.detector", "arbot.paper"),
    # Storage keeps what the engine produced and knows nothing of who produced it.
    "arbot.storage": (
        *_OUTER,
        "arbot.pipeline",
        "arbot.sink",
        "arbot.scheduler",
        "arbot.replay",
        "arbot.engine",
        "arbot.detector",
        "arbot.paper",
        "arbot.feeds",
        "arbot.health",
    ),
}


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE) -> Iterator[tuple[int, str]]:
    """(line, module) of every arbot module `path` imports, relative imports resolved."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from arbot import x` imports the module arbot.x
            names = [f"{base}.{a.name}" for a in node.names] if base == "arbot" else [base]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n == "arbot" or n.startswith("arbot."))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(path: Path, root: Path = PACKAGE) -> list[str]:
    module = _module_name(path, root)
    rules = [bad for layer, bad in LAYERS.items() if _within(module, layer)]
    return [
        f"{path.relative_to(root.parent)}:{line}: {module} imports {name}"
        for line, name in imports(path, root)
        for bad in rules
        if any(_within(name, b) for b in bad)
    ]


def test_no_import_runs_against_the_layers() -> None:
    found = [v for path in sorted(PACKAGE.rglob("*.py")) for v in violations(path)]
    assert not found, "\n".join(found)


def test_every_layer_names_modules_that_exist() -> None:
    """A renamed module must not silently empty a rule."""
    names = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    for layer, bad in LAYERS.items():
        assert any(_within(n, layer) for n in names), layer
        for b in bad:
            assert any(_within(n, b) for n in names), b


@pytest.mark.parametrize(
    ("where", "line", "reported"),
    [
        ("storage/sqlite/writer.py", "from arbot.engine import Engine", "arbot.engine"),
        ("feeds/feed.py", "from arbot.health import FlowMonitor", "arbot.health"),
        ("paper/executor.py", "from ..storage import schema", "arbot.storage"),
        ("detector/core.py", "    from arbot import cli  # in a function", "arbot.cli"),
    ],
)
def test_a_wrong_edge_is_found(tmp_path: Path, where: str, line: str, reported: str) -> None:
    """The checker itself: a forbidden import added to a copy of a module is reported."""
    root = tmp_path / "arbot"
    copy = root / where
    copy.parent.mkdir(parents=True)
    text = (PACKAGE / where).read_text(encoding="utf-8")
    if line.startswith(" "):
        text += f"\n\ndef _added() -> None:\n{line}\n"
    else:
        text = f"{line}\n{text}"
    copy.write_text(text, encoding="utf-8")
    (found,) = violations(copy, root)
    assert found.endswith(f"imports {reported}"), found
    assert violations(PACKAGE / where) == []
