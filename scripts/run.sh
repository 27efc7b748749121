#!/usr/bin/env bash
# Quick start: install what building needs (and curl, the README's next
# step), build the monitor, run it with your flags (everything after run.sh
# goes to the monitor).
#   sudo scripts/run.sh -i eth0 -d 0 -p 10749
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
# Messages in the locale's language from the build tree's catalogs.
export ITM_LOCALEDIR="${ITM_LOCALEDIR:-$PWD/build/po}"
exec build/ip_traffic_monitor_cli "$@"
