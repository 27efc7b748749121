#!/usr/bin/env bash
# CI's run step, in a brand-new Debian 12 root (fresh-debian): the README's
# run command exactly as README.md writes it, then the README's next step
# (its curl line) against it.
#
# The first `scripts/run.sh --version` installs and builds, with the
# network (it is timed: README.md says how long a first run takes).  The
# README's command then runs in a private network namespace whose eth0 is
# one end of a veth pair made there, so nothing of this machine's own
# network is touched: 800 datagrams of 1400 bytes go out of eth0 to
# 192.0.2.2 (TEST-NET-1, a static neighbour: the frames end at the other
# end of the pair), 1,142,400 IP bytes, past the default -t of 1 MiB.
# Pass: curl shows exactly that many tx bytes for 192.0.2.2 (labelled
# 保留地址 without -g), and SIGINT ends the monitor with exit 0 and its
# summary.
#   .ci/readme-run.sh            (from the repository's top directory)
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} != --inside ]]; then
	t0=$SECONDS
	scripts/run.sh --version || exit 1
	echo "readme-run: first run (packages and build): $((SECONDS - t0)) s"
	exec unshare --net "$0" --inside
fi

run_cmd=$(sed -n '/^```bash$/,/^```$/s/^\(scripts\/run\.sh .*\)$/\1/p' README.md | head -n 1)
curl_cmd=$(sed -n '/^```bash$/,/^```$/s/^\(curl .*\)$/\1/p' README.md | head -n 1)
[[ $run_cmd == "scripts/run.sh -i eth0 "* && $curl_cmd == curl\ * ]] || {
	echo "readme-run: no run or curl command in README.md" >&2
	exit 1
}
echo "readme-run: README run command: $run_cmd"
echo "readme-run: README next step: $curl_cmd"

ip link set lo up &&
	ip link add eth0 type veth peer name eth0peer &&
	ip addr add 192.0.2.1/24 dev eth0 &&
	ip link set eth0peer up && ip link set eth0 up &&
	ip neigh replace 192.0.2.2 lladdr \
		"$(ip -o link show dev eth0peer | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p')" \
		dev eth0 nud permanent || exit 1

log=$(mktemp)
# As written; bash -c so that its words split as a shell splits them.
bash -c "$run_cmd" >"$log" 2>&1 &
pid=$!
stop() { kill -INT "$pid" 2>/dev/null; wait "$pid"; }

ready=0
for _ in $(seq 1 100); do
	if bash -c "$curl_cmd" >/dev/null 2>&1; then
		ready=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
if ((!ready)); then
	stop
	echo "readme-run: the monitor never answered the curl line" >&2
	cat "$log" >&2
	exit 1
fi

for _ in $(seq 1 800); do
	head -c 1400 /dev/zero >/dev/udp/192.0.2.2/9 || exit 1
done
want=$((800 * (1400 + 28)))
metrics=$(bash -c "$curl_cmd")
line=$(grep '^ip_traffic_tx_bytes_total{remote_ip="192.0.2.2",' <<<"$metrics")
stop
rc=$?
cat "$log"
echo "readme-run: scraped: $line"
echo "readme-run: monitor exit status $rc"
[[ $line == *'country="保留地址"'*"} $want" ]] || {
	echo "readme-run: want $want tx bytes for 192.0.2.2 (保留地址)" >&2
	exit 1
}
((rc == 0)) && grep -q '^=== ip_traffic_monitor_cli summary ===' "$log" &&
	grep -q '^TOTAL ' "$log"
