#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks (issue 5), one entry point.  Run as root on the test machine:
#
#   scripts/bench.sh            full run (about 20-25 minutes on 2 cores)
#   scripts/bench.sh --quick    smaller counts, one round (about 5 minutes)
#   --no-insitu                 without part 1a (about 12 minutes less)
#
# Prints a Markdown report and writes it to bench/results/latest.md (plus the
# raw figures as JSON beside it).  See bench/README.md for the method and for
# what limits each figure.  Live traffic stays inside two network namespaces
# this run creates (bench/e2e_compare.py); they are removed on exit, also
# after errors or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/bench/results
QUICK=0 INSITU=1
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--no-insitu) INSITU=0 ;;
	*) echo "usage: $0 [--quick] [--no-insitu]" >&2; exit 2 ;;
	esac
done

if [[ $EUID -ne 0 ]]; then
	echo "bench.sh: run as root (BPF, network namespaces)" >&2
	exit 1
fi

TMP=$(mktemp -d /tmp/itm-bench.XXXXXX)
E2E_PID=
cleanup() {
	local rc=$?
	if [[ -n ${INSITU_PID:-} ]] && kill -0 "$INSITU_PID" 2>/dev/null; then
		# insitu.py removes its namespaces and restores bpf_stats on SIGTERM.
		kill -TERM "$INSITU_PID" 2>/dev/null || true
		wait "$INSITU_PID" 2>/dev/null || true
	fi
	if [[ -n $E2E_PID ]] && kill -0 "$E2E_PID" 2>/dev/null; then
		# e2e_compare.py tears its namespaces down on SIGTERM.
		kill -TERM "$E2E_PID" 2>/dev/null || true
		wait "$E2E_PID" 2>/dev/null || true
		local tag=$((E2E_PID % 100000))
		ip netns del "itmbg$tag" 2>/dev/null || true
		ip netns del "itmbs$tag" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }

# --- dependencies and build ---------------------------------------------
need=()
command -v iftop >/dev/null || need+=(iftop)
command -v pmacctd >/dev/null || need+=(pmacct)
command -v bpftool >/dev/null || need+=(bpftool)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi
if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" >&2
fi
ninja -C "$BUILD" >&2

CFLAGS=(-O2 -g -Wall -Wextra -D_GNU_SOURCE)
gcc "${CFLAGS[@]}" -o "$TMP/gen" "$ROOT/bench/gen.c"

if ((QUICK)); then
	BPF_REPEAT=1000000 BPF_ROUNDS=1
	INSITU_ARGS=(--packets 200000 --rounds 1)
	SCALE_N="10000 65536 100000"
	DRAIN_ROUNDS=3
	E2E_ARGS=(--rounds 1 --max-packets 500000 --mod-packets 200000
		--map-sizes 10000,100000)
else
	BPF_REPEAT=10000000 BPF_ROUNDS=3
	INSITU_ARGS=(--packets 500000 --rounds 3)
	SCALE_N="10000 65536 100000 1000000"
	DRAIN_ROUNDS=5
	E2E_ARGS=(--rounds 5 --max-packets 2000000 --mod-packets 500000
		--map-sizes 10000,100000,1000000)
fi

REPORT=$TMP/report.md
{
	echo "# ip_traffic_monitor_cli benchmark results"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
	echo "- kernel: $(uname -r); CPUs: $(nproc) × $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- mode: $([[ $QUICK == 1 ]] && echo quick || echo full)"
	echo
} >"$REPORT"

# --- 1a. BPF cost per packet in situ (bench/insitu.py) -------------------
log "BPF cost per packet, in situ"
{
	echo "## 1. BPF program cost per packet"
	echo
} >>"$REPORT"
INSITU_PID=
insitu_rc=0
if ((INSITU)); then
	python3 "$ROOT/bench/insitu.py" --gen "$TMP/gen" \
		--itm "$BUILD/ip_traffic_monitor_cli" \
		--attach "$BUILD/bench/insitu_attach" \
		--obj "$BUILD/bench/insitu.bpf.o" \
		--out "$TMP/insitu" "${INSITU_ARGS[@]}" >/dev/null &
	INSITU_PID=$!
	wait "$INSITU_PID" || insitu_rc=$?
	INSITU_PID=
fi
if [[ -f $TMP/insitu.md ]]; then
	cat "$TMP/insitu.md" >>"$REPORT"
elif ((INSITU)); then
	echo "_in-situ run failed (exit $insitu_rc); see the messages above._" >>"$REPORT"
else
	echo "_in-situ part skipped (--no-insitu)._" >>"$REPORT"
fi

# --- 1b. BPF cost per packet (bench/bpf_cost.c, built by meson) ---------
log "BPF cost per packet, BPF_PROG_TEST_RUN"
{
	echo "### 1b. BPF_PROG_TEST_RUN (\`bench/bpf_cost.c\`)"
	echo
} >>"$REPORT"
if [[ ! -x $BUILD/bench/bpf_cost ]]; then
	ninja -C "$BUILD" bench/bpf_cost >&2 2>/dev/null || true
fi
if [[ -x $BUILD/bench/bpf_cost ]]; then
	"$BUILD/bench/bpf_cost" "$BPF_REPEAT" "$BPF_ROUNDS" >>"$REPORT"
else
	echo "_skipped: build/bench/bpf_cost is not built (bench/meson.build not wired)._" >>"$REPORT"
fi
echo >>"$REPORT"

# --- 2. aggregation and exporter scale -----------------------------------
log "scale: $SCALE_N tracked addresses"
"$BUILD/bench/scale" $SCALE_N >"$TMP/scale.txt"
python3 - "$TMP/scale.txt" >>"$REPORT" <<'EOF'
import sys
rows = [dict(kv.split("=") for kv in l.split()) for l in open(sys.argv[1])]
print("## 2. Aggregation and exporter scale (bench/scale.c, the daemon's code path)")
print()
print("One poll = a per-CPU BPF hash map holding N addresses, drained with "
      "`bpf_map_lookup_and_delete_batch` (4096 per call) and merged into the "
      "loader's table as `collector.c` does; then `metrics_render()` with "
      "every address exported (`-t 0`). %s CPUs." % rows[0]["ncpus"])
print()
print("| tracked addresses | drain, kernel ms | merge, new addresses ms | "
      "merge, known addresses ms | drain+merge ns/address (known) | "
      "/metrics render ms | body MiB | gzip MiB | body B/address | "
      "RSS B/address | table B/address |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    n = int(r["n"])
    f = {k: float(v) for k, v in r.items()}
    print("| %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %.2f | %.0f | "
          "%.0f | %.0f |" % (
              n, f["drain2_s"] * 1e3, f["merge1_s"] * 1e3,
              f["merge2_s"] * 1e3,
              (f["drain2_s"] + f["merge2_s"]) * 1e9 / n,
              f["render_s"] * 1e3, f["render_bytes"] / 2**20,
              f["gzip_bytes"] / 2**20, f["render_bytes"] / n,
              f["rss_bytes_per_addr"], f["table_bytes_per_addr"]))
print()
EOF

# --- 2b. drain strategies (bench/drain_variants.c, built by meson) -------
log "drain strategies"
{
	echo "### 2b. What lets the kernel do less per drain (\`bench/drain_variants.c\`)"
	echo
	for n in 65536 1000000; do
		"$BUILD/bench/drain_variants" "$n" "$DRAIN_ROUNDS" || echo "_drain_variants $n failed._"
		echo
	done
} >>"$REPORT"

# --- 3. end to end against iftop and pmacctd ------------------------------
log "end to end (this is the long part)"
echo "## 3. End to end, same traffic for every monitor" >>"$REPORT"
echo >>"$REPORT"
TMPDIR=$TMP python3 "$ROOT/bench/e2e_compare.py" --gen "$TMP/gen" \
	--itm "$BUILD/ip_traffic_monitor_cli" --out "$TMP/e2e" \
	"${E2E_ARGS[@]}" >/dev/null &
E2E_PID=$!
e2e_rc=0
wait "$E2E_PID" || e2e_rc=$?
E2E_PID=
if [[ -f $TMP/e2e.md ]]; then
	cat "$TMP/e2e.md" >>"$REPORT"
else
	echo "_end-to-end run failed (exit $e2e_rc); see the messages above._" >>"$REPORT"
fi

mkdir -p "$OUT"
cp "$REPORT" "$OUT/latest.md"
[[ -f $TMP/e2e.json ]] && cp "$TMP/e2e.json" "$OUT/latest-e2e.json"
[[ -f $TMP/insitu.json ]] && cp "$TMP/insitu.json" "$OUT/latest-insitu.json"
cp "$TMP/scale.txt" "$OUT/latest-scale.txt"
cat "$REPORT"
log "written to $OUT/latest.md"
if ((e2e_rc)); then
	log "end-to-end comparison reported a problem (exit $e2e_rc)"
	exit "$e2e_rc"
fi
