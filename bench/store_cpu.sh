#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The daemon's CPU per drain with and without --db, same traffic, same run.
#
#   sudo bench/store_cpu.sh [ADDRS] [SECONDS] [INTERVAL]   (10000, 20, 0.5)
#
# Two private network namespaces joined by a veth (removed on exit);
# bench/gen sends IPv4/UDP frames round robin over ADDRS destinations from
# the monitored end at a rate that touches every address in every drain.
# The frames are addressed to a MAC nobody has, so the peer drops them:
# nothing leaves the two namespaces.  The daemon's user+system CPU time
# (/proc/PID/stat) over SECONDS, divided by the drains in that time
# (SECONDS / INTERVAL), is its cost per drain of ADDRS active addresses.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ITM_BIN:-$ROOT/build/ip_traffic_monitor_cli}
ADDRS=${1:-10000}
SECS=${2:-20}
IVL=${3:-0.5}
TAG=$$
NS=itmsc$TAG
PEER=itmsp$TAG
IF=itmsc$TAG
TMP=$(mktemp -d)
PIN=/sys/fs/bpf/itm_store_cpu_$TAG
GENPID=

cleanup() {
	[[ -n $GENPID ]] && kill "$GENPID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$PEER" 2>/dev/null || true
	rm -rf "$TMP" "$PIN"
}
trap cleanup EXIT INT TERM

gcc -O2 -o "$TMP/gen" "$ROOT/bench/gen.c"
ip netns add "$NS"
ip netns add "$PEER"
ip link add "$IF" netns "$NS" type veth peer name "p$TAG" netns "$PEER"
ip -n "$NS" addr add 10.79.0.1/24 dev "$IF"
for n in "$NS" "$PEER"; do
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n "$n" link set lo up
done
ip -n "$NS" link set "$IF" up
ip -n "$PEER" link set "p$TAG" up

ticks() { # utime+stime of pid, in clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat"
}

run() { # label, extra flags...
	local label=$1
	shift
	nsenter --net="/run/netns/$NS" "$BIN" -i "$IF" -d 0 -s "$IVL" -t 0 \
		--quiet --no-summary --no-pid --pin-dir "$PIN" "$@" \
		2>"$TMP/$label.err" &
	local pid=$!
	sleep 2
	# Enough packets per drain interval to touch every address.
	local rate
	rate=$(awk -v a="$ADDRS" -v i="$IVL" 'BEGIN{r=a/i*2; if (r<20000) r=20000; print int(r)}')
	ip netns exec "$NS" "$TMP/gen" -i "$IF" -a "$ADDRS" -r "$rate" \
		-n $((rate * (SECS + 4))) -b 10.80.0.1 >"$TMP/gen.out" &
	GENPID=$!
	sleep 2
	local t0 t1
	t0=$(ticks "$pid")
	sleep "$SECS"
	t1=$(ticks "$pid")
	kill "$GENPID" 2>/dev/null || true
	wait "$GENPID" 2>/dev/null || true
	GENPID=
	kill -TERM "$pid"
	wait "$pid" || true
	awk -v t0="$t0" -v t1="$t1" -v s="$SECS" -v i="$IVL" -v a="$ADDRS" \
		-v hz="$(getconf CLK_TCK)" -v l="$label" 'BEGIN {
		d = s / i; ms = (t1 - t0) / hz * 1000 / d;
		printf "%-10s %6.2f ms CPU per drain of %d addresses (%.0f drains)\n", l, ms, a, d }'
}

echo "daemon CPU per drain, -s $IVL, $ADDRS active addresses, ${SECS}s each"
run "no --db"
run "--db" --db "$TMP/traffic.db"
if [[ -f $TMP/traffic.db ]]; then
	echo "stored rows: $(sqlite3 "file:$TMP/traffic.db?mode=ro" 'SELECT count(*) FROM t_bucket')"
fi
