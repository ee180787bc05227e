"""Connecting to PostgreSQL: the password comes from password_file or libpq's environment
and never shows in the TOML, a log line or an error; a wrong password is a configuration
error (exit 3); TLS options and the statement timeout reach libpq."""

from __future__ import annotations

import itertools
from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from arbot.errors import EXIT_CONFIG, ConfigError
from arbot.metrics import Metrics
from arbot.settings import PostgresSettings, parse_settings
from arbot.storage.pg.connect import connect, conninfo_of
from arbot.storage.pg.writer import PgWriter
from tests.postgres.cluster import Cluster

SECRET = "s3cret-Pa55word"
_ROLES = itertools.count()


@pytest.fixture
def role(pg_cluster: Cluster, pg_settings: PostgresSettings) -> PostgresSettings:
    """A login role with a password (scram), owning the test's schema; settings without
    the password."""
    name = f"arbot_pw_{next(_ROLES)}"
    with connect(pg_settings) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{SECRET}'")
        conn.execute(f"GRANT ALL ON SCHEMA {schema[0]} TO {name}")
    return PostgresSettings(
        conninfo=f"host={pg_cluster.socket_dir} dbname=postgres user={name} "
        f"options='-c search_path={schema[0]}'"
    )


def test_password_file_is_used(role: PostgresSettings, tmp_path: Path) -> None:
    secret_file = tmp_path / "pgpassword"
    secret_file.write_text(SECRET + "\n")
    settings = role.model_copy(update={"password_file": secret_file})
    with connect(settings) as conn:
        (user,) = conn.execute("SELECT current_user").fetchone() or ("",)
    assert user.startswith("arbot_pw_")


def test_pgpassword_environment_is_used(
    role: PostgresSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    with connect(role) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_wrong_password_is_a_config_error_without_the_secret(
    role: PostgresSettings, tmp_path: Path
) -> None:
    wrong = "Wr0ng-" + SECRET
    secret_file = tmp_path / "pgpassword"
    secret_file.write_text(wrong)
    with pytest.raises(ConfigError) as info:
        connect(role.model_copy(update={"password_file": secret_file}))
    assert info.value.exit_code == EXIT_CONFIG
    message = str(info.value)
    assert "password authentication failed" in message
    assert wrong not in message and "\n" not in message


async def test_writer_with_wrong_password_stops_with_config_error_and_quiet_logs(
    role: PostgresSettings, tmp_path: Path, metrics: Metrics
) -> None:
    """Only an operator can fix a wrong password: the daemon's writer does not retry it;
    no log line carries the password."""
    wrong = "Wr0ng-" + SECRET
    secret_file = tmp_path / "pgpassword"
    secret_file.write_text(wrong)
    writer = PgWriter(role.model_copy(update={"password_file": secret_file}), metrics)
    with capture_logs() as logs, pytest.raises(ConfigError, match="password authentication"):
        writer.resume_state()
    assert wrong not in repr(logs)


def test_unreadable_password_file_names_the_key_not_the_content(tmp_path: Path) -> None:
    settings = PostgresSettings(password_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"^postgresql.password_file: cannot read .*missing"):
        connect(settings)


@pytest.mark.parametrize(
    "conninfo",
    [
        f"host=db user=arbot password={SECRET}",
        f"postgresql://arbot:{SECRET}@db/arbot",
        f"postgresql://db/arbot?user=arbot&password={SECRET}",
    ],
)
def test_a_password_in_the_toml_is_refused_without_echoing_it(conninfo: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"postgresql": {"conninfo": conninfo}}, "arbot.toml")
    assert str(info.value).startswith("arbot.toml: postgresql.conninfo: must not contain")
    assert SECRET not in str(info.value)


def test_tls_options_and_timeouts_reach_libpq(tmp_path: Path) -> None:
    settings = PostgresSettings(
        conninfo="postgresql://arbot@db.example/arbot?application_name=shard0",
        sslmode="verify-full",
        sslrootcert=tmp_path / "ca.pem",
        sslcert=tmp_path / "client.pem",
        sslkey=tmp_path / "client.key",
        statement_timeout_ms=1234,
        connect_timeout=7,
    )
    params = psycopg.conninfo.conninfo_to_dict(conninfo_of(settings))
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == str(tmp_path / "ca.pem")
    assert params["sslkey"] == str(tmp_path / "client.key")
    assert params["connect_timeout"] == "7"
    assert params["application_name"] == "shard0"
    assert params["options"] == "-c timezone=UTC -c statement_timeout=1234"
    assert "password" not in params


def test_sessions_run_in_utc_with_the_statement_timeout(pg_settings: PostgresSettings) -> None:
    settings = pg_settings.model_copy(update={"statement_timeout_ms": 1500})
    with connect(settings) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("1500ms",)
        assert conn.execute("SHOW timezone").fetchone() == ("UTC",)
