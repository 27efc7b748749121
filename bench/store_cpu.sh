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
#
# With Debian's clickhouse-server installed, a third run writes to a
# throwaway ClickHouse server started in the monitored namespace (its
# loopback only, its files under the temporary directory); the server's
# own CPU per drain is printed beside the daemon's.
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
CHPID=
CHPORT=18423
CHSERVER=/usr/sbin/clickhouse-server

cleanup() {
	[[ -n $GENPID ]] && kill "$GENPID" 2>/dev/null || true
	if [[ -n $CHPID ]]; then
		kill -9 "$CHPID" 2>/dev/null || true
		wait "$CHPID" 2>/dev/null || true
	fi
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

ch_start() { # a server for this run only: user default, from 127.0.0.1
	mkdir -p "$TMP/ch"
	cat >"$TMP/ch/config.xml" <<EOF
<yandex>
  <logger><level>warning</level><log>$TMP/ch/server.log</log>
    <errorlog>$TMP/ch/error.log</errorlog><console>0</console></logger>
  <http_port>$CHPORT</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$TMP/ch/data/</path>
  <tmp_path>$TMP/ch/tmp/</tmp_path>
  <users_config>$TMP/ch/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
</yandex>
EOF
	cat >"$TMP/ch/users.xml" <<EOF
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
EOF
	# exec: the server is the pid we measure and kill
	nsenter --net="/run/netns/$NS" sh -c 'exec "$0" --config-file="$1"' \
		"$CHSERVER" "$TMP/ch/config.xml" >/dev/null 2>&1 &
	CHPID=$!
	for _ in $(seq 300); do
		ch_query "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "clickhouse-server did not start: $(tail -3 "$TMP/ch/error.log")" >&2
	return 1
}

ch_drains() { # commit rows: one per stored drain
	ch_query "SELECT count() FROM itm.itm_data WHERE kind = 5" 2>/dev/null ||
		echo 0
}

ch_query() {
	nsenter --net="/run/netns/$NS" curl -sSf --data-binary "$1" \
		"http://127.0.0.1:$CHPORT/"
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
	local t0 t1 s0=0 s1=0 c0=0 c1=0
	t0=$(ticks "$pid")
	# A drain whose upload outlasts -s delays the next: count the
	# drains the server committed (commit rows) instead of assuming them.
	[[ -n $CHPID ]] && s0=$(ticks "$CHPID") && c0=$(ch_drains)
	sleep "$SECS"
	t1=$(ticks "$pid")
	[[ -n $CHPID ]] && s1=$(ticks "$CHPID") && c1=$(ch_drains)
	kill "$GENPID" 2>/dev/null || true
	wait "$GENPID" 2>/dev/null || true
	GENPID=
	kill -TERM "$pid"
	wait "$pid" || true
	awk -v t0="$t0" -v t1="$t1" -v s="$SECS" -v i="$IVL" -v a="$ADDRS" \
		-v hz="$(getconf CLK_TCK)" -v l="$label" -v c=$((c1 - c0)) 'BEGIN {
		d = c > 0 ? c : s / i; ms = (t1 - t0) / hz * 1000 / d;
		printf "%-10s %6.2f ms CPU per drain of %d addresses (%.0f drains)\n", l, ms, a, d }'
	if [[ $s1 != 0 ]]; then
		awk -v t0="$s0" -v t1="$s1" -v c=$((c1 - c0)) \
			-v hz="$(getconf CLK_TCK)" 'BEGIN {
			printf "%-10s %6.2f ms CPU per drain in the server (same machine)\n",
			"", (t1 - t0) / hz * 1000 / c }'
	fi
}

echo "daemon CPU per drain, -s $IVL, $ADDRS active addresses, ${SECS}s each;" \
	"kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
run "no --db"
run "SQLite" --db "$TMP/traffic.db"
if [[ -f $TMP/traffic.db ]]; then
	echo "stored rows: $(sqlite3 "file:$TMP/traffic.db?mode=ro" 'SELECT count(*) FROM t_bucket')"
fi
if [[ -x $CHSERVER ]]; then
	ch_start
	run "ClickHouse" --db "clickhouse://default@127.0.0.1:$CHPORT/itm"
	echo "stored rows: $(ch_query 'SELECT count() FROM itm.traffic')"
else
	echo "ClickHouse: $CHSERVER missing (apt-get install clickhouse-server)"
fi
