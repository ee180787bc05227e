"""Typed, frozen configuration parsed once from TOML (plus env overrides)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator

from arbot.errors import ConfigError
from arbot.settings_base import Lax, Positive
from arbot.settings_base import Section as _Section
from arbot.settings_feeds import ExchangeSettings, FeedsSettings

DEFAULT_CONFIG = Path("/etc/arbot/arbot.toml")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

__all__ = ["ExchangeSettings", "FeedsSettings"]  # re-exported: importers name this module


class StorageSettings(_Section):
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    data_dir: Annotated[Path, Lax] = Path("/var/lib/arbot")
    batch_size: int = Field(5000, ge=1, le=200_000)
    linger_ms: int = Field(250, ge=1, le=60_000)
    queue_size: int = Field(100_000, ge=10, le=10_000_000)
    cache_size_kib: int = Field(65_536, ge=1024)
    busy_timeout_ms: int = Field(5000, ge=0)
    wal_autocheckpoint_pages: int = Field(10_000, ge=0)
    # Store at most one tick per (exchange, symbol) per this many ms; 0 stores every tick.
    conflate_ms: int = Field(0, ge=0)
    # Skip a tick whose bid/ask/sizes equal the previous stored one for its key.
    skip_unchanged: bool = False
    retry_max_seconds: float = Field(30.0, gt=0)
    # Ticks waiting for arbot.db while it cannot be written (the engine never waits for it).
    backlog_max_ticks: int = Field(500_000, ge=1000, le=50_000_000)
    # Past the bound: "conflate" keeps only the latest tick per exchange+symbol (the rest are
    # counted and covered by a feed_gaps row); "block" makes the feeds wait (nothing is
    # dropped, but detection pauses until the database takes writes again).
    backlog_overflow: Literal["conflate", "block"] = "conflate"


# A password inside the conninfo would sit in the TOML and could reach a log line.
_CONNINFO_PASSWORD = re.compile(r"(^|\s|[?&])password\s*=|^postgres(ql)?://[^/@?]*:[^/@?]*@", re.I)


class PostgresSettings(_Section):
    # A libpq conninfo string or URI; empty means the standard PG* environment variables.
    conninfo: str = ""
    # A file holding only the password (a secret mount); else PGPASSWORD / PGPASSFILE.
    password_file: Annotated[Path, Lax] | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        None
    )
    sslrootcert: Annotated[Path, Lax] | None = None
    sslcert: Annotated[Path, Lax] | None = None
    sslkey: Annotated[Path, Lax] | None = None
    statement_timeout_ms: int = Field(60_000, ge=0)
    connect_timeout: int = Field(10, ge=1, le=600)
    # Daily tick partitions kept created ahead of today.
    partitions_ahead_days: int = Field(3, ge=1, le=60)

    @field_validator("conninfo")
    @classmethod
    def _no_password(cls, v: str) -> str:
        if _CONNINFO_PASSWORD.search(v):
            raise ValueError(
                "must not contain a password; use postgresql.password_file or PGPASSWORD/PGPASSFILE"
            )
        return v


class ShardSettings(_Section):
    """This daemon takes the symbols whose stable hash modulo `count` is `index`."""

    index: int = Field(0, ge=0)
    count: int = Field(1, ge=1, le=1024)

    @model_validator(mode="after")
    def _check(self) -> ShardSettings:
        if self.index >= self.count:
            raise ValueError("index must be less than count")
        return self


class DetectorSettings(_Section):
    enabled: bool = True
    min_profit_percent: float = Field(0.1, ge=0)
    hysteresis_percent: float = Field(0.05, ge=0)
    max_quote_age: Positive = 5.0
    max_leg_skew: Positive = 2.0
    improve_step_percent: float = Field(0.05, gt=0)
    cooldown: Positive = 60.0
    trend_halflife: Positive = 10.0
    trend_threshold_percent: float = Field(0.01, ge=0)
    quote_groups: Annotated[tuple[Annotated[tuple[str, ...], Lax], ...], Lax] = ()
    # With order books on both legs (exchanges.depth > 0): signals report the net edge at
    # each of these quote-currency notionals, and an opportunity opens only when its best
    # executable trade makes at least min_profit_quote.
    sizes: Annotated[tuple[Positive, ...], Lax] = ()
    min_profit_quote: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> DetectorSettings:
        if self.hysteresis_percent > self.min_profit_percent:
            raise ValueError("hysteresis_percent must not exceed min_profit_percent")
        return self


class MetricsSettings(_Section):
    enabled: bool = True
    listen: str = Field("127.0.0.1:9108", pattern=r"^[^\s:]+:\d{1,5}$")
    healthy_after: Positive = 60.0
    # /healthz answers 503 while fewer feeds than this are up or degraded.
    min_feeds_up: int = Field(1, ge=0)
    # /healthz says "degraded" once the writer has retried a batch this long.
    storage_degraded_after: Positive = 10.0

    @field_validator("listen")
    @classmethod
    def _port_in_range(cls, value: str) -> str:
        # 0 asks the OS for a free port (what tests and throwaway runs use).
        if not 0 <= int(value.rsplit(":", 1)[1]) <= 65535:
            raise ValueError("the port must be from 1 to 65535 (or 0: any free port)")
        return value

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class LoggingSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    # Seconds between `heartbeat` info lines (rates, queue depth, feeds up); 0 turns them off.
    heartbeat: float = Field(60.0, ge=0)


class RetentionSettings(_Section):
    enabled: bool = True
    run_at: str = Field("03:30", pattern=_HHMM.pattern)
    tickers_days: Positive = 7
    signals_days: Positive = 30
    trades_days: Positive = 365
    performance_metrics_days: Positive = 1095
    chunk_rows: int = Field(5_000, ge=100)


class BackupSettings(_Section):
    enabled: bool = True
    dir: Annotated[Path, Lax] | None = None
    run_at: str = Field("04:00", pattern=_HHMM.pattern)
    compress: bool = True
    keep_daily: int = Field(7, ge=1)
    keep_weekly: int = Field(4, ge=0)


class PaperSettings(_Section):
    enabled: bool = False
    latency_ms: int = Field(200, ge=0)
    min_confidence: float = Field(0.0, ge=0, le=1)
    min_profit_percent: float = Field(0.0, ge=0)
    max_fill_wait: Positive = 5.0
    # A fill losing more than this percent of its notional is refused ("moved away"), as if
    # both legs were IOC limit orders priced this far through the planned prices.
    max_loss_percent: float = Field(0.1, ge=0)
    # The buy leg locks this fraction more quote than planned, so a slightly higher ask is paid.
    lock_headroom: float = Field(0.01, ge=0, lt=1)
    snapshot_interval: Positive = 300.0
    # exchange name -> asset -> starting free balance
    balances: dict[str, dict[str, Annotated[float, Field(ge=0)]]] = Field(default_factory=dict)


class ServiceSettings(_Section):
    grace_timeout: Positive = 20.0
    # The watchdog's window: a writer with work waiting and no commit this long is wedged
    # (the daemon is restarted); also the STATUS= line's "feeds live" horizon.
    flow_window: Positive = 30.0


NotifyEvent = Literal[
    "opportunity", "episode_closed", "feed_down", "feed_up", "storage", "daily_summary"
]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = get_args(NotifyEvent)


class NotifyTarget(_Section):
    """One [[notify]] target: its Apprise URLs come from a file or an environment variable,
    never from this file (they carry tokens); the rest says what it is told."""

    name: str = ""  # default: its position, "1", "2", ...
    urls_file: Annotated[Path, Lax] | None = None  # one URL a line; mode 0600 (checked)
    urls_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    events: Annotated[tuple[NotifyEvent, ...], Lax] = NOTIFY_EVENTS
    # Opportunities (and closed episodes, by their peak) below these are not told.
    min_profit_percent: float = Field(0.0, ge=0)
    min_profit_quote: float = Field(0.0, ge=0)
    # Empty: all. An opportunity needs both legs among `exchanges`.
    symbols: Annotated[tuple[str, ...], Lax] = ()
    exchanges: Annotated[tuple[str, ...], Lax] = ()
    # "auto": a JSON body for json:// and jsons:// webhooks, plain text elsewhere.
    format: Literal["auto", "text", "json"] = "auto"
    # Messages a minute; what comes beyond is folded into one "N more" message.
    rate_limit: int = Field(10, ge=1, le=1000)
    # Messages waiting while the service is slow or down; beyond, they are dropped (counted).
    queue_size: int = Field(100, ge=1, le=100_000)
    # A message not delivered within this many seconds is given up (counted as failed).
    max_age: Positive = 3600.0
    # A feed is told down once it has been down this long (a reconnect blip is not).
    feed_down_after: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> NotifyTarget:
        if (self.urls_file is None) == (self.urls_env is None):
            raise ValueError("give exactly one of urls_file or urls_env (never URLs here)")
        return self


class Settings(_Section):
    storage: StorageSettings = StorageSettings()
    exchanges: Annotated[tuple[ExchangeSettings, ...], Lax] = ()
    feeds: FeedsSettings = FeedsSettings()
    detector: DetectorSettings = DetectorSettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()
    retention: RetentionSettings = RetentionSettings()
    backup: BackupSettings = BackupSettings()
    paper: PaperSettings = PaperSettings()
    service: ServiceSettings = ServiceSettings()
    postgresql: PostgresSettings = PostgresSettings()
    shard: ShardSettings = ShardSettings()
    notify: Annotated[tuple[NotifyTarget, ...], Lax] = ()

    @field_validator("notify")
    @classmethod
    def _name_targets(cls, v: tuple[NotifyTarget, ...]) -> tuple[NotifyTarget, ...]:
        named = tuple(
            t if t.name else t.model_copy(update={"name": str(i)}) for i, t in enumerate(v, 1)
        )
        names = [t.name for t in named]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"notify target name {name!r} is used twice")
        return named

    @field_validator("exchanges")
    @classmethod
    def _unique_names(cls, v: tuple[ExchangeSettings, ...]) -> tuple[ExchangeSettings, ...]:
        seen: set[str] = set()
        for ex in v:
            if ex.name in seen:
                raise ValueError(f"exchange name {ex.name!r} is used twice; set a distinct 'name'")
            seen.add(ex.name)
        return v

    @property
    def enabled_exchanges(self) -> tuple[ExchangeSettings, ...]:
        return tuple(e for e in self.exchanges if e.enabled)

    @property
    def backup_dir(self) -> Path:
        return self.backup.dir or self.storage.data_dir / "backups"

    def with_data_dir(self, data_dir: Path) -> Settings:
        return self.model_copy(
            update={"storage": self.storage.model_copy(update={"data_dir": data_dir})}
        )


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in ("constrained-str",):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    got = err.get("input")
    shown = (
        ""
        if err["type"] in ("missing", "extra_forbidden")
        or isinstance(got, dict)
        or err["loc"][-1:] == ("conninfo",)  # may hold a password: never echo it
        else f" (got {got!r})"
    )
    return f"{_key_path(tuple(err['loc']))}: {msg.removeprefix('Value error, ')}{shown}"


def parse_settings(data: dict[str, Any], source: str) -> Settings:
    """Validate a TOML document; every error names `source` and the key path."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(e)}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def config_path(cli_value: str | None) -> Path:
    return Path(cli_value or os.environ.get("ARBOT_CONFIG") or DEFAULT_CONFIG)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def with_data_dir_override(settings: Settings, data_dir: Path | None = None) -> Settings:
    """Apply an explicit data dir, else ARBOT_DATA_DIR, if any."""
    override = data_dir or (Path(env) if (env := os.environ.get("ARBOT_DATA_DIR")) else None)
    return settings.with_data_dir(override) if override else settings


def load_settings(path: Path, data_dir: Path | None = None) -> Settings:
    """Read, parse and validate `path`; apply ARBOT_DATA_DIR or an explicit data dir."""
    return with_data_dir_override(parse_settings(read_toml(path), str(path)), data_dir)
