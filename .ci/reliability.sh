#!/usr/bin/env bash
# The reliability suite (`make reliability`, ~10 min) with what it needs on a fresh machine:
# strace for the EIO scenario (installed when missing and we are root; without it that
# scenario is skipped with its reason), and a soak bounded by ARBOT_SOAK_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v strace >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && apt-get install -y -qq strace >/dev/null; } ||
    echo "reliability: could not install strace; the EIO scenario will be skipped"
fi
export ARBOT_SOAK_SECONDS="${ARBOT_SOAK_SECONDS:-120}"
make reliability
