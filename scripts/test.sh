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

# meson's testlog.json has one JSON object per test.
count_meson() { # logfile strict
	local log=$1 strict=$2 p f s
	p=$(grep -c '"result": "OK"' "$log" || true)
	f=$(grep -cE '"result": "(FAIL|TIMEOUT|UNEXPECTEDPASS|ERROR)"' "$log" || true)
	s=$(grep -c '"result": "SKIP"' "$log" || true)
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if [[ $strict == 1 ]]; then strict_skips=$((strict_skips + s)); fi
}

run_meson() { # builddir suite strict
	local dir=$1 suite=$2 strict=$3
	echo "=== meson test: $suite ($dir)"
	meson test -C "$dir" --suite "$suite" --print-errorlogs --num-processes 1
	count_meson "$dir/meson-logs/testlog.json" "$strict"
}

run_meson build unit 0
run_meson build bpf 1
run_meson build geo 0

echo "=== unit and geo suites under AddressSanitizer/UndefinedBehaviorSanitizer"
if [[ ! -f build-asan/build.ninja ]]; then
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ninja -C build-asan >/dev/null; then
	export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	run_meson build-asan unit 0
	run_meson build-asan geo 0
	unset ASAN_OPTIONS UBSAN_OPTIONS
else
	echo "test: the sanitizer build failed" >&2
	failed=$((failed + 1))
fi

echo "=== fuzz: libFuzzer harnesses, committed crashes replayed, ${ITM_FUZZ_SECONDS:-30} s each"
if [[ ! -f build-fuzz/build.ninja ]]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
if ninja -C build-fuzz fuzzers >/dev/null; then
	meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs \
		--num-processes 1
	count_meson build-fuzz/meson-logs/testlog.json 1
else
	echo "test: the fuzz build failed" >&2
	failed=$((failed + 1))
fi

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
read -r p f s < <(/usr/bin/python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
print(t - f - s, f, s)
PY
) || { p=0; f=1; s=0; }
rm -f "$junit"
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
strict_skips=$((strict_skips + s))

echo
if ((strict_skips)); then
	echo "test: $strict_skips privileged test(s) skipped; this machine should run them all" >&2
	failed=$((failed + strict_skips))
fi
echo "test summary: $skipped skipped in all"
echo "$passed passed, $failed failed"
((failed == 0))
