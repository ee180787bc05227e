"""The shipped alert rules and Grafana dashboard only use metrics the daemon exports, and
the systemd unit keeps the settings the daemon relies on."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

from arbot.metrics import Metrics
from arbot.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\barbot_[a-z_]+\b")


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_alert_rules_use_exported_metrics() -> None:
    """Every arbot_* name in alerts.yml exists (a renamed metric would silence an alert)."""
    used = set(METRIC.findall((ROOT / "config/prometheus/alerts.yml").read_text()))
    assert used, "no arbot metric found in alerts.yml"
    assert used <= exported_names(), used - exported_names()


def test_dashboard_uses_exported_metrics() -> None:
    """Every panel query names exported metrics only."""
    dashboard = json.loads((ROOT / "config/grafana/arbot.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in METRIC.findall(e)}
    assert len(used) > 10
    assert used <= exported_names(), used - exported_names()


def test_unit_gives_the_drain_time_to_finish() -> None:
    """TimeoutStopSec must exceed the default drain deadline, and the unit must be a
    notify service with a watchdog and a restart policy that skips operator errors."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "systemd/arbot.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert int(service["TimeoutStopSec"]) > ServiceSettings().grace_timeout + 10
    # The watchdog fires at WatchdogSec: it must tolerate a flow window without data.
    assert int(service["WatchdogSec"]) > ServiceSettings().flow_window
    assert service["Restart"] == "on-failure"
    assert set(service["RestartPreventExitStatus"].split()) == {"3", "4", "5"}
