#!/usr/bin/env bash
# One booted kernel of the matrix beside CPU hogs that each sit in a
# session of their own (as meson's tests do), run twice: as .ci/run starts
# the matrix (its own session, autogroup nice -10) and plainly.  Prints
# both times and their ratio.  As root; about 10 min on 2 CPUs.
#   bench/kmatrix_priority.sh [KERNEL] [HOGS]      (default: 6.12 3)
set -uo pipefail
cd "$(dirname "$0")/.."
kernel=${1:-6.12} nhogs=${2:-3}
ids="tests/e2e/test_traffic.py::test_udp_tcp_both_directions_exact"
ids+=",tests/e2e/test_degrade.py::test_refused_part_degrades_and_counts_exactly[tcx]"
ids+=",tests/e2e/test_degrade.py::test_refused_part_degrades_and_counts_exactly[batch]"
ids+=",tests/e2e/test_store.py::test_kill9_clsact_loses_nothing"
echo "uname -r: $(uname -r), $(nproc) CPUs, autogroups: $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)"

hogs=()
stop_hogs() { ((${#hogs[@]})) && kill "${hogs[@]}" 2>/dev/null; hogs=(); }
trap stop_hogs EXIT
one() { # boost|plain -> seconds on stdout
	local t0=$SECONDS i
	for ((i = 0; i < nhogs; i++)); do
		setsid nice -n 19 sh -c 'while :; do :; done' &
		hogs+=($!)
	done
	if [[ $1 == boost ]]; then
		setsid -w bash -c 'echo -10 >/proc/self/autogroup 2>/dev/null; exec "$@"' _ \
			scripts/kernel-matrix.sh --kernels "$kernel" --timeout 1100 --e2e "$ids" >&2
	else
		scripts/kernel-matrix.sh --kernels "$kernel" --timeout 1100 --e2e "$ids" >&2
	fi
	local rc=$?
	stop_hogs
	((rc == 0)) || { echo "kmatrix_priority: the $1 run failed" >&2; exit 1; }
	echo $((SECONDS - t0))
}
b=$(one boost) p=$(one plain)
echo "kernel $kernel beside $nhogs hogs: own autogroup at nice -10 ${b} s, plain ${p} s, plain/own = $(awk -v p="$p" -v b="$b" 'BEGIN { printf "%.2f", p / b }')"
