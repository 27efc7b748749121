#!/usr/bin/env bash
# run-fuzz.sh HARNESS SEED_DIR REGRESS_DIR
# Replays every committed crash input once, then fuzzes for
# ITM_FUZZ_SECONDS (default 30) from the seeds, on one core.  New corpus
# entries go to a temporary directory; a crash input is kept in
# $ITM_FUZZ_ARTIFACTS (default /tmp) and its path printed.
set -uo pipefail
exe=$1 seeds=$2 regress=$3
secs=${ITM_FUZZ_SECONDS:-30}
artifacts=${ITM_FUZZ_ARTIFACTS:-/tmp}
name=$(basename "$exe")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
crashes=("$regress"/*)
if ((${#crashes[@]})); then
	echo "$name: replaying ${#crashes[@]} regression input(s)"
	"$exe" -runs=1 "${crashes[@]}" || exit 1
fi
mkdir -p "$work/corpus" "$artifacts"
"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
	"$work/corpus" "$seeds"
