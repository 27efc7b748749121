#!/bin/bash
# SPDX-License-Identifier: MIT
# What scripts/kernel-matrix.sh runs on each kernel: inside a qemu guest
# (chrooted into the host's root, mounted read-only over 9p) or directly on
# this machine for its own kernel.  Run from the top of a checkout whose
# build/ was made by `scripts/setup.sh --test`, as root.
#
#   1. the BPF suites: build/tests/bpf/{test_bpf_prog,test_bpf_owner,
#      test_bpf_drain,test_attach_caps} (exit 77 = skipped, with its reason),
#   2. `ip_traffic_monitor_cli check --json` when the binary has it: which
#      program variants this kernel gets and what is degraded,
#   3. an end-to-end subset of tests/e2e (exact IPv4/IPv6 bytes and packets,
#      exact per-process attribution, kill -9 + restart with --db under tcx
#      and clsact, --xdp); ITM_KMATRIX_E2E (comma-separated pytest node ids)
#      replaces it, ITM_KMATRIX_E2E=none skips it.
#
# Lines for the host start with "ITMKMX-"; the last one is
#   ITMKMX-RESULT: variants: ... | degraded: ... | bpf P/N e2e P/N | PASS|FAIL
set -u
# One block, parsed before it runs: an edit of this file during a run (it
# is read over 9p from the host) cannot derail it.
{
export LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 COLUMNS=200
build=${ITM_BUILD_DIR:-build}
bin=$build/ip_traffic_monitor_cli
[[ -x $bin ]] || bin=$build/user/ip_traffic_monitor_cli
tmp=$(mktemp -d /tmp/itm-kmatrix.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
say() { echo "ITMKMX-$*"; }
fail=0

# The e2e subset: what the issue asks for, trimmed to what two TCG vCPUs
# finish in a few minutes.
default_e2e=(
	tests/e2e/test_traffic.py::test_udp_tcp_both_directions_exact
	"tests/e2e/test_process.py::test_processes_attributed_exactly[inline]"
	"tests/e2e/test_process.py::test_processes_attributed_exactly[helper]"
	tests/e2e/test_store.py::test_kill9_under_traffic_loses_nothing
	tests/e2e/test_store.py::test_kill9_clsact_loses_nothing
	tests/e2e/test_degrade.py
	"tests/e2e/test_exit_paths.py::test_exit_path_loses_nothing[sigterm-fifo-clears-tcx]"
	"tests/e2e/test_exit_paths.py::test_exit_path_loses_nothing[sigterm-locked-clears-clsact]"
	"tests/e2e/test_instance_lock.py::test_second_instance_refused_however_started[clsact-nsenter]"
	"tests/e2e/test_instance_lock.py::test_hook_taken_away_is_noticed[tc-filter-del-ingress-root]"
	# --xdp: native veth XDP (Linux >= 4.19), XDP links (>= 5.9); the
	# test leaves out only its jumbo frames where multi-buffer programs
	# are refused (< 5.18), saying so.  Received traffic attributed
	# under --xdp (TC ingress moves it from pid 0) like TC alone.  The
	# file's kept-restart and store-waiting cases of that run on the host
	# only: under TCG they would double the file's 230 s on 5.10, past
	# the matrix's 900 s per kernel.
	tests/e2e/test_xdp.py::test_xdp_counts_like_tc
	tests/e2e/test_xdp.py::test_xdp_attributes_rx_like_tc
)
if [[ -n ${ITM_KMATRIX_E2E:-} ]]; then
	IFS=, read -r -a e2e <<<"$ITM_KMATRIX_E2E"
	[[ $ITM_KMATRIX_E2E == none ]] && e2e=()
else
	e2e=("${default_e2e[@]}")
fi

say "START: $(uname -r) $(nproc) cpus"

# ---- 1. BPF suites
bpf_pass=0 bpf_n=0 skips=() bpf_failed=""
for t in test_bpf_prog test_bpf_owner test_bpf_drain test_attach_caps; do
	bpf_n=$((bpf_n + 1))
	t0=$SECONDS
	if [[ ! -x $build/tests/bpf/$t ]]; then
		say "BPF: $t FAIL (not built)"
		bpf_failed+=" ${t#test_}"
		fail=1
		continue
	fi
	timeout -k 5 900 "$build/tests/bpf/$t" >"$tmp/$t.log" 2>&1
	rc=$?
	dt=$((SECONDS - t0))
	if ((rc == 0)); then
		bpf_pass=$((bpf_pass + 1))
		say "BPF: $t pass (${dt} s)"
	elif ((rc == 77)); then
		why=$(grep -v '^\s*$' "$tmp/$t.log" | tail -n 1 | cut -c1-120)
		skips+=("$t: ${why:-no reason given}")
		say "BPF: $t skip (${dt} s): ${why:-no reason given}"
	else
		fail=1
		bpf_failed+=" ${t#test_}"
		say "BPF: $t FAIL exit $rc (${dt} s)"
		tail -n 15 "$tmp/$t.log" | sed 's/^/ITMKMX-LOG:   /'
	fi
done

# ---- 2. check --json
variants="n/a" degraded="" no_degraded=none
"$bin" check --json >"$tmp/check.json" 2>"$tmp/check.err"
rc=$?
if ((rc == 2)) && ! grep -q '^{' "$tmp/check.json"; then
	no_degraded="n/a"
	say "CHECK: the binary has no 'check --json' ($(head -n 1 "$tmp/check.err"))"
else
	sum=$(/usr/bin/python3 - "$tmp/check.json" "$(uname -r)" <<'EOF'
import json, sys
try:
    c = json.load(open(sys.argv[1]))
except Exception as e:
    print("unparsable check output: %s\t" % e)
    sys.exit(0)
def short(r, n=90):
    r = " ".join(str(r).split())
    return r if len(r) <= n else r[:n - 3] + "..."
var, deg = [], []
for f in c.get("features", []):
    var.append("%s=%s" % (f.get("feature"), f.get("variant")))
    if f.get("state") != "enabled":
        deg.append("%s=%s%s" % (f.get("feature"), f.get("state"),
                                " (%s)" % short(f["reason"])
                                if f.get("reason") else ""))
if c.get("kernel") and c["kernel"] != sys.argv[2]:
    deg.insert(0, "check names kernel %s" % c["kernel"])
if not c.get("counting", False):
    deg.insert(0, "COUNTING IMPOSSIBLE (%s)" % short(
        c.get("counting_reason") or "no reason given"))
print(" ".join(var) + "\t" + "; ".join(deg))
EOF
	)
	variants=${sum%%$'\t'*}
	degraded=${sum#*$'\t'}
	say "CHECK: exit $rc: $(tr -d '\n' <"$tmp/check.json" | cut -c1-1500)"
	((rc == 0)) || fail=1
fi
for s in "${skips[@]}"; do
	degraded+="${degraded:+; }skipped $s"
done

# ---- 3. e2e subset
e2e_pass=0 e2e_n=0 e2e_skip=0
if ((${#e2e[@]})); then
	t0=$SECONDS
	# Each result as it comes (the host log shows where a hang was).
	/usr/bin/python3 -m pytest -p no:cacheprovider -v -rfEs \
		--basetemp="$tmp/pytest" --junitxml="$tmp/e2e.xml" \
		"${e2e[@]}" 2>&1 | tee "$tmp/e2e.log" |
		grep --line-buffered -E '^tests/.*(PASSED|FAILED|ERROR|SKIPPED)' |
		while IFS= read -r l; do say "LOG:   [$((SECONDS - t0)) s] $l"; done
	rc=${PIPESTATUS[0]}
	counts=$(/usr/bin/python3 - "$tmp/e2e.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 0, 0)
    sys.exit(0)
p = n = s = 0
for tc in root.iter("testcase"):
    n += 1
    kids = {k.tag for k in tc}
    if "skipped" in kids:
        s += 1
    elif not kids & {"failure", "error"}:
        p += 1
print(p, n, s)
EOF
	)
	read -r e2e_pass e2e_n e2e_skip <<<"$counts"
	say "E2E: exit $rc, $e2e_pass/$e2e_n passed, $e2e_skip skipped ($((SECONDS - t0)) s)"
	sed -n '/short test summary/,$p' "$tmp/e2e.log" |
		grep -E '^(FAILED|ERROR|SKIPPED) ' | cut -c1-300 | awk '!seen[$2]++' |
		sed 's/^/ITMKMX-LOG:   /'
	if ((rc != 0 || e2e_n == 0)); then
		fail=1
		# The first assertion of each failure, for the log.
		grep -E '^E ' "$tmp/e2e.log" | head -n 12 | cut -c1-200 |
			sed 's/^/ITMKMX-LOG:   /'
		grep -E '^=+ .*(passed|failed|error).* =+$' "$tmp/e2e.log" | tail -n 1 |
			tr -s '=' | sed 's/^/ITMKMX-LOG:   /'
	fi
	((e2e_skip)) && degraded+="${degraded:+; }$e2e_skip e2e skipped"
fi

verdict=PASS
((fail)) && verdict=FAIL
say "RESULT: variants: $variants | degraded: ${degraded:-$no_degraded} | bpf $bpf_pass/$bpf_n${bpf_failed:+ (failed:$bpf_failed)} e2e $e2e_pass/$e2e_n | $verdict"
((fail == 0))
exit
}
