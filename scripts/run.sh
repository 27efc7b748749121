#!/usr/bin/env bash
# Quick start: install what building needs, build the monitor, run it with
# your flags (everything after run.sh goes to the monitor).
#   sudo scripts/run.sh -i eth0 -d 0 -p 10749
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec build/ip_traffic_monitor_cli "$@"
