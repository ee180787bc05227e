#!/usr/bin/env bash
# Service artefacts checked by the real tools: the systemd unit (systemd-analyze verify +
# security, exposure at most 2.0), the Prometheus config, alert rules, their unit tests
# (promtool) and the rules in a real Prometheus.
# Installs promtool (Debian package `prometheus`) when missing and running as root; the test
# suite's live `promtool check metrics` and Prometheus-scrape tests use the same binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {  # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "service-checks: installing $2 for $1"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  else
    echo "service-checks: $1 is missing; install the $2 package" >&2
    exit 1
  fi
}
need systemd-analyze systemd
need promtool prometheus

# verify requires ExecStart's binary to exist; check a copy whose ExecStart points at this
# checkout's arbot (same arguments), so the real unit keeps its install path.
[ -x .venv/bin/arbot ] || make install
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s#^ExecStart=/usr/local/bin/arbot #ExecStart=$PWD/.venv/bin/arbot #" \
  -e "s#^ExecReload=/usr/local/bin/arbot #ExecReload=$PWD/.venv/bin/arbot #" \
  systemd/arbot.service >"$tmp/arbot.service"
grep -q "^ExecStart=$PWD/.venv/bin/arbot " "$tmp/arbot.service" || {
  echo "service-checks: ExecStart of systemd/arbot.service is not /usr/local/bin/arbot" >&2
  exit 1
}
out=$(systemd-analyze verify "$tmp/arbot.service" 2>&1) || true
if [ -n "$out" ]; then
  echo "service-checks: systemd-analyze verify systemd/arbot.service:" >&2
  echo "$out" >&2
  exit 1
fi
echo "systemd-analyze verify: clean"
systemd-analyze security --offline=true --threshold=20 systemd/arbot.service | tail -n 1

promtool check config config/prometheus/prometheus.yml
promtool test rules config/prometheus/alerts_test.yml
# The shipped rules in a real Prometheus against the daemon and fakes (~2.5 min).
.venv/bin/pytest -q -m slow tests/service/test_prometheus_alerts.py
.venv/bin/python -c "import json, sys; json.load(open(sys.argv[1]))" config/grafana/arbot.json
echo "service-checks: all passed"
