"""A server that cannot be reached, as a command reports it: one line naming the database,
the role and the host or socket that failed and why, libpq's hint kept without its tab,
never the password (no server is needed: nothing listens where these point)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from arbot.cli import main
from arbot.errors import EXIT_DATABASE

SECRET = "N3ver-Shown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("host", "failed"),
    [
        ("@socket", 'connection to server on socket "@socket/.s.PGSQL.5432" failed: '
         "No such file or directory; Is the server running locally"),
        ("127.0.0.1 port=@port", 'connection to server at "127.0.0.1", port @port failed: '
         "Connection refused; Is the server running on that host"),
    ],
)  # fmt: skip
def test_cannot_connect_is_one_line_naming_where(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    failed: str,
) -> None:
    monkeypatch.delenv("ARBOT_CONFIG", raising=False)
    monkeypatch.delenv("ARBOT_DATA_DIR", raising=False)
    folder, port = str(tmp_path / "nowhere"), str(free_port())
    host, failed = (x.replace("@socket", folder).replace("@port", port) for x in (host, failed))
    secret = tmp_path / "pw"
    secret.write_text(SECRET + "\n")
    config = tmp_path / "arbot.toml"
    config.write_text(
        f'[storage]\nbackend = "postgresql"\ndata_dir = "{tmp_path / "data"}"\n[postgresql]\n'
        f"conninfo = {json.dumps(f'host={host} dbname=arbot user=arbot_writer')}\n"
        f"password_file = {json.dumps(str(secret))}\nconnect_timeout = 2\n"
    )
    assert main(["db", "stats", "--config", str(config)]) == EXIT_DATABASE
    [line] = capsys.readouterr().err.strip().splitlines()
    assert 'cannot connect to database "arbot" as "arbot_writer": ' in line, line
    assert failed in line, line
    assert "\t" not in line and SECRET not in line
