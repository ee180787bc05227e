"""Reliability suite plumbing: every test gets a row in the summary table (its `figures`
fixture), printed at the end of the session."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.reliability.summary import Row, Summary

SUMMARY = pytest.StashKey[Summary]()
ROW = pytest.StashKey[Row]()
HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SUMMARY] = Summary()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make reliability` selects `-m slow`; the quick scenarios (which also run in `make
    test`) belong in its table too, so there every test of this folder counts as slow."""
    if config.option.markexpr.strip() != "slow":
        return
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def figures(request: pytest.FixtureRequest) -> dict[str, object]:
    """The figures of this test's row in the summary table; the outcome is filled in."""
    row = request.config.stash[SUMMARY].add(request.node.name)
    request.node.stash[ROW] = row
    return row.figures


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    row = item.stash.get(ROW, None)
    if row is not None and (report.when == "call" or not report.passed):
        if report.skipped and isinstance(report.longrepr, tuple):
            row.outcome = f"skipped: {report.longrepr[2].removeprefix('Skipped: ')}"
        elif row.outcome in ("running", "passed"):
            row.outcome = report.outcome
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash[SUMMARY].lines()
    if lines:
        terminalreporter.write_sep("=", "reliability summary")
        for line in lines:
            terminalreporter.write_line(line)
