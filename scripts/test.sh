#!/usr/bin/env bash
# Quick start, tests: install dependencies, build, run every suite.
#   sudo scripts/test.sh
# Suites: unit (cmocka, also under ASan/UBSan), bpf (BPF_PROG_TEST_RUN),
# geo (lookup layer, fixture and real databases), fuzz (libFuzzer, about
# 30 s per harness: ITM_FUZZ_SECONDS), e2e (network namespaces).
# The privileged suites (bpf, e2e) must not skip: a skip there fails the run,
# because the machines we test on have everything they need.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "test: run as root (the bpf and e2e suites load BPF programs and create network namespaces)" >&2
	exit 2
fi
scripts/setup.sh --test || exit 1

passed=0 failed=0 skipped=0 strict_skips=0
# Every test that failed, a line each ("build-asan geo / geo-sweep:
# TIMEOUT"), printed again above the summary: a CI log may be cut to its
# end, and the end must say what failed.
failures=$(mktemp) || exit 1
trap 'rm -f "$failures"' EXIT

# meson's testlog.json has one JSON object per test: one pass counts them
# and names each failed one in $failures.
count_meson() { # logfile strict builddir
	local log=$1 strict=$2 dir=$3 p f s
	read -r p f s < <(/usr/bin/python3 - "$log" "$dir" "$failures" <<'PY'
import json, sys
n = {"OK": 0, "SKIP": 0, "bad": 0}
with open(sys.argv[3], "a") as out:
    for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
        t = json.loads(line)
        r = t.get("result")
        if r in ("FAIL", "TIMEOUT", "UNEXPECTEDPASS", "ERROR"):
            n["bad"] += 1
            out.write("%s %s: %s (%.0f s)\n" % (
                sys.argv[2], t["name"].split(":", 1)[-1], r,
                t.get("duration", 0)))
        elif r in n:
            n[r] += 1
print(n["OK"], n["bad"], n["SKIP"])
PY
	) || { p=0 f=1 s=0; echo "$dir: cannot read $log" >>"$failures"; }
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if [[ $strict == 1 ]]; then strict_skips=$((strict_skips + s)); fi
}

# Beside CI's kernel matrix (ITM_TEST_E2E_GATE set) the suites before the
# gate get a small share of the CPU (the guest's session weighs ten times
# theirs), so each test's timeout, which is there to catch a hang, is
# multiplied: the geo sweep, 150 s alone here, once took more than its
# 540 s there.  Alone, the timeouts are as meson.build sets them.
timeout_mult=1
[[ -n ${ITM_TEST_E2E_GATE:-} ]] && timeout_mult=${ITM_TEST_TIMEOUT_MULTIPLIER:-5}

run_meson() { # builddir suite strict [env...]
	local dir=$1 suite=$2 strict=$3
	shift 3
	echo "=== meson test: $suite ($dir)"
	# A log of its own per suite: other build directories' suites run
	# at the same time (below), and each count reads its own file.
	env "$@" meson test -C "$dir" --suite "$suite" --no-rebuild \
		--logbase "testlog-$suite" --print-errorlogs --num-processes 1 \
		--timeout-multiplier "$timeout_mult"
	count_meson "$dir/meson-logs/testlog-$suite.json" "$strict" "$dir"
}

# Everything is built before anything runs: the suites below run side by
# side, and meson must not rebuild a directory another suite is using.
sanitize_env=(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
asan_ok=1 fuzz_ok=1
if [[ ! -f build-asan/build.ninja ]]; then
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-asan >/dev/null || asan_ok=0
if [[ ! -f build-fuzz/build.ninja ]]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
ninja -C build-fuzz fuzzers >/dev/null || fuzz_ok=0

run_meson build bpf 1

# The geography databases once, before two geo suites read them at the
# same time (fetch-geo-data.sh is idempotent, not safe to run twice at
# once).  Without them the geo suites skip, as they would alone.
scripts/fetch-geo-data.sh >/dev/null 2>&1

# Three lanes side by side, one per build directory, each mostly one
# core (the geo sweep, the fuzzers and the unit tests are single
# threaded): the plain unit and geo suites, the same under ASan/UBSan, and
# the libFuzzer harnesses (each still fuzzes for its full time).  Every
# suite and assertion is the one that ran one after the other before;
# each lane's output is printed whole when all end.  The e2e suite, whose
# timing matters, runs after them alone.
lanes=$(mktemp -d) || exit 1
lane_plain() {
	run_meson build unit 0
	touch "$lanes/plain-unit.done"
	run_meson build geo 0
	echo "$passed $failed $skipped $strict_skips" >"$lanes/plain.count"
}
lane_asan() {
	echo "=== unit and geo suites under AddressSanitizer/UndefinedBehaviorSanitizer"
	if ((asan_ok)); then
		run_meson build-asan geo 0 "${sanitize_env[@]}"
		# Not beside the plain unit suite: both have the HTTP server
		# tests, which take a port that was free a moment before.
		while [[ ! -e $lanes/plain-unit.done ]]; do sleep 1; done
		run_meson build-asan unit 0 "${sanitize_env[@]}"
	else
		echo "test: the sanitizer build failed" >&2
		echo "build-asan: the sanitizer build failed" >>"$failures"
		failed=$((failed + 1))
	fi
	echo "$passed $failed $skipped $strict_skips" >"$lanes/asan.count"
}
lane_fuzz() {
	echo "=== fuzz: libFuzzer harnesses, committed crashes replayed, ${ITM_FUZZ_SECONDS:-30} s each"
	if ((fuzz_ok)); then
		run_meson build-fuzz fuzz 1
	else
		echo "test: the fuzz build failed" >&2
		echo "build-fuzz: the fuzz build failed" >>"$failures"
		failed=$((failed + 1))
	fi
	echo "$passed $failed $skipped $strict_skips" >"$lanes/fuzz.count"
}
t_lanes=$SECONDS
echo "=== unit, geo and fuzz suites side by side (their output follows when all three end)"
for l in plain asan fuzz; do
	(passed=0 failed=0 skipped=0 strict_skips=0; "lane_$l") >"$lanes/$l.log" 2>&1 &
done
wait
for l in plain asan fuzz; do
	cat "$lanes/$l.log"
	if read -r p f s ss <"$lanes/$l.count"; then
		passed=$((passed + p)) failed=$((failed + f))
		skipped=$((skipped + s)) strict_skips=$((strict_skips + ss))
	else
		echo "test: the $l lane ended without its counts" >&2
		echo "the $l lane ended without its counts" >>"$failures"
		failed=$((failed + 1))
	fi
done 2>&1
rm -rf "$lanes"
echo "test: unit, geo and fuzz suites (three lanes side by side): $((SECONDS - t_lanes)) s"

# CI (.ci/run) starts this command while the kernel matrix's guest still
# has most of the machine: everything above runs beside it, and the e2e
# suite, whose timing-sensitive assertions need the machine to
# themselves, waits here until .ci/run creates the gate file (the matrix
# has ended), or at most ITM_TEST_E2E_GATE_MAX seconds.
echo "test: setup, builds and the suites before e2e: $SECONDS s"
if [[ -n ${ITM_TEST_E2E_GATE:-} ]]; then
	t_gate=$SECONDS gate_max=${ITM_TEST_E2E_GATE_MAX:-3600}
	echo "=== e2e waits for $ITM_TEST_E2E_GATE (at most $gate_max s)"
	until [[ -e $ITM_TEST_E2E_GATE ]] || ((SECONDS - t_gate >= gate_max)); do
		sleep 2
	done
	[[ -e $ITM_TEST_E2E_GATE ]] || echo "test: no $ITM_TEST_E2E_GATE after $gate_max s; going on" >&2
	echo "test: the e2e suite waited $((SECONDS - t_gate)) s for its gate"
	# CI runs everything before the gate at the lowest priority, beside
	# the kernel matrix; the e2e suite has the machine and normal priority.
	renice -n 0 -p $$ >/dev/null && ionice -c 2 -n 4 -p $$ ||
		echo "test: could not restore normal priority" >&2
fi

t_e2e=$SECONDS
echo "=== e2e (network namespaces, real traffic)"
junit=$(mktemp)
# The systemd tests boot this machine's own OS under systemd-nspawn.  A
# chroot (such as the brand-new root .ci/run proves the quick start in) is
# not a bootable OS, so .ci/run sets ITM_TEST_IN_CHROOT=1 there and runs
# those tests on the machine itself, as a step of their own.
e2e_args=()
if [[ ${ITM_TEST_IN_CHROOT:-0} == 1 ]]; then
	echo "test: ITM_TEST_IN_CHROOT=1: tests/e2e/test_systemd.py left out (it needs a bootable OS)"
	e2e_args+=(--ignore=tests/e2e/test_systemd.py)
fi
/usr/bin/python3 -m pytest -p no:cacheprovider -v -rs --junitxml="$junit" "${e2e_args[@]}" tests/e2e
read -r p f s < <(/usr/bin/python3 - "$junit" "$failures" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
with open(sys.argv[2], "a") as out:
    for case in r.iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            out.write("e2e %s::%s: %s (%.0f s)\n" % (
                case.get("classname", ""), case.get("name", ""), bad.tag,
                float(case.get("time", 0))))
print(t - f - s, f, s)
PY
) || { p=0; f=1; s=0; echo "e2e: no junit report" >>"$failures"; }
rm -f "$junit"
echo "test: e2e suite: $((SECONDS - t_e2e)) s"
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
strict_skips=$((strict_skips + s))

echo
if ((strict_skips)); then
	echo "test: $strict_skips privileged test(s) skipped; this machine should run them all" >&2
	echo "$strict_skips privileged test(s) skipped" >>"$failures"
	failed=$((failed + strict_skips))
fi
if [[ -s $failures ]]; then
	echo "test: what failed:"
	sed 's/^/    /' "$failures"
fi
echo "test summary: $skipped skipped in all"
echo "$passed passed, $failed failed"
((failed == 0))
