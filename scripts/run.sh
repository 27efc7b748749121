#!/usr/bin/env bash
# Quick start: install dependencies, build, run the monitor with your flags.
#   sudo scripts/run.sh -i eth0 -d 0 -p 9090
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec build/ip_traffic_monitor_cli "$@"
