"""Fixtures of the notification tests: local receivers, targets from 0600 files, and the
check that no output of any test here carries a secret used in its URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from arbot.notify.targets import Target, load_target
from arbot.settings import NotifyTarget
from tests.notify.servers import SECRETS, Receiver, SmtpServer

MakeTarget = Callable[..., Target]


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secret {leaked} in: {text[:2000]}"


@pytest.fixture(autouse=True)
def _no_secret_in_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """What a test left on stdout and stderr (its own and any library's, read at the file
    descriptors) holds none of the secrets; tests that read the output check it too."""
    yield
    out, err = capfd.readouterr()
    assert_no_secret(out + err)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    s = await SmtpServer().start()
    yield s
    await s.stop()


@pytest.fixture
def make_target(tmp_path: Path) -> MakeTarget:
    """A Target whose URLs come from a 0600 file, as the daemon loads it."""
    numbers = count(1)

    def make(*urls: str, **settings: Any) -> Target:
        path = tmp_path / f"notify{next(numbers)}.urls"
        path.write_text("\n".join(urls) + "\n", encoding="utf-8")
        path.chmod(0o600)
        settings.setdefault("name", path.stem)
        return load_target(NotifyTarget(urls_file=path, **settings))

    return make
