"""The documentation's `arbot` examples run as written: every indented line starting with
`arbot`, `.venv/bin/arbot` or `sudo arbot` in README.md, then in each docs/*.md by file name,
is run (in that order, shell-split, comments dropped) in one sandbox that holds the files
the examples name; a failure names the file and line. Paths of the server (/var/lib/arbot) and
placeholders map into the sandbox; `sudo` is dropped (tests/cli/test_data_owner.py checks the
switch to the data's owner). Optional `[...]` parts are left out. SKIPPED says why the rest
does not run here."""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.backtest.data import write_csv
from tests.replay.books import random_books, write_snapshot
from tests.storage.dbops_data import insert_ticks, random_ticks

from arbot.cli import main
from arbot.storage.schema import init_all

ROOT = Path(__file__).parents[2]
# Examples run in this order and share one sandbox, so a later file sees what an earlier
# one did (e.g. the data dir's restored ticks).
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"^(sudo )?(\.venv/bin/)?arbot( |$)")
SKIPPED = {
    "arbot run": "connects to the real exchanges (make run); tests/integration run the daemon",
    "arbot demo": "runs for a minute; tests/localmarket/test_demo.py runs it",
    "arbot reload": "signals a running daemon; tests/service/test_reload.py runs it",
    "arbot notify test": "sends to the configured services; tests/notify/test_cli.py runs it",
}
AUGUST_8 = 1_723_075_200.0  # 2024-08-08 00:00 UTC
# The counts when the README was split into docs/ (37 examples, 31 run), so that moving text
# cannot lose one unnoticed. Lower them on purpose when an example is removed.
EXAMPLES_AT_LEAST = 37
RUN_AT_LEAST = 31


def examples(doc: Path) -> list[tuple[int, str]]:
    """(line number, command) of every arbot example in `doc`, continuation lines joined."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("    ") and COMMAND.match(text := lines[i].strip()):
            start = i + 1
            while text.endswith("\\"):
                i += 1
                text = text[:-1].rstrip() + " " + lines[i].strip()
            found.append((start, text))
        i += 1
    return found


def all_examples() -> list[tuple[str, int, str]]:
    """(file relative to the repository, line number, command), in DOCS order."""
    return [(d.relative_to(ROOT).as_posix(), n, t) for d in DOCS for n, t in examples(d)]


def runnable(text: str) -> str | None:
    """The command to run, or None for a synopsis line (alternatives with `|`). What follows
    a `#` or a gap of 3+ spaces is the line's description."""
    text = re.split(r"\s{3,}|\s+#", text)[0].strip()
    if " | " in text:
        return None
    while "[" in text:  # optional parts, innermost first
        text = re.sub(r"\s*\[[^\[\]]*\]", "", text)
    return re.sub(r"^sudo ", "", text)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    data = root / "data"
    init_all(data)
    conn = sqlite3.connect(data / "arbot.db")
    insert_ticks(conn, random_ticks(400, AUGUST_8 + 12 * 3600, 3600, seed=9))
    conn.commit()
    conn.close()
    write_csv(root / "quotes.csv")
    write_snapshot(root / "binance_book_snapshot_25.csv.gz", random_books(200))
    (root / "bt.toml").write_text("[paper]\nenabled = true\n", encoding="utf-8")
    for folder in (root / "backups", data / "backups"):
        folder.mkdir()
        with (
            (data / "arbot.db").open("rb") as raw,
            gzip.open(folder / "arbot_20240808_040000.db.gz", "wb") as packed,
        ):
            shutil.copyfileobj(raw, packed)
    return root


def test_the_docs_have_examples() -> None:
    found = all_examples()
    assert len(found) >= EXAMPLES_AT_LEAST, [(f, n) for f, n, _ in found]
    where = {f for f, _, _ in found}
    assert {"README.md", "docs/operations.md", "docs/replay.md"} <= where, where


def test_examples_run_as_written(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each runnable example exits 0 with no traceback; the skipped ones are named above."""
    data = sandbox / "data"
    monkeypatch.chdir(sandbox)
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.setenv("ARBOT_DATA_DIR", str(data))  # what /etc/arbot/arbot.toml sets
    places = {"/var/lib/arbot": str(data), "/tmp/replay": str(sandbox / "replay"),
              "DIR": str(sandbox / "new")}  # fmt: skip
    ran = 0
    for doc, number, text in all_examples():
        command = runnable(text)
        if command is None or any(command.startswith(s) for s in SKIPPED):
            continue
        argv = [places.get(word, word) for word in shlex.split(command, comments=True)[1:]]
        argv = [re.sub(r"^/var/lib/arbot/", f"{data}/", word) for word in argv]
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{doc}:{number}: {command}\n{err}"
        assert "Traceback" not in out + err
        ran += 1
    assert ran >= RUN_AT_LEAST
