#!/bin/bash
# SPDX-License-Identifier: MIT
# The booted kernel matrix: boot Debian's own kernels under qemu (TCG; no
# KVM needed) and run the BPF suites, `ip_traffic_monitor_cli check --json`
# and an end-to-end subset on each, plus the same on this machine's running
# kernel; one line per kernel, then a summary.
#
#   scripts/kernel-matrix.sh [--kernels LIST] [--keep-going] [--timeout S]
#                            [--budget S] [--jobs N] [--e2e IDS]
#
#   --kernels LIST  comma-separated, in order; default
#                   host,5.10,6.1,6.12,6.18,latest
#                     host    this machine's running kernel (no qemu)
#                     5.10    Debian 11's kernel (bullseye, bullseye-security)
#                     6.1     Debian 12's stock kernel (bookworm)
#                     6.12    Debian 12's backports kernel (bookworm-backports)
#                     6.18    the newest 6.18 in trixie-backports
#                     latest  the newest kernel in trixie-backports
#                     or a Debian kernel release such as 6.1.0-47-amd64
#   --keep-going    go on after a kernel fails (default: stop at the first)
#   --timeout S     per booted kernel, boot to power-off (default 600)
#   --budget S      the whole run; a kernel gets at most what is left, and
#                   kernels not started within it fail (default 2700)
#   --jobs N        boot up to N guests at a time (default: one per two
#                   CPUs, as each guest has two vCPUs, and 2.5 GiB free per
#                   guest; 1 on a 2-CPU machine); the host row runs alone
#   --e2e IDS       comma-separated pytest node ids instead of the default
#                   subset (see scripts/kernel-matrix-guest.sh); "none" = no
#                   e2e tests
#
# Run as root from a checkout built with `scripts/setup.sh --test`.  Exit 0
# when every kernel passed.  Kernels come through apt with a private state
# directory under the cache (the mirror is the one this machine's
# /etc/apt/sources.list.d/debian.sources names; /etc/apt is not touched).
# Cache: $ITM_KMATRIX_CACHE (default /var/cache/itm-kernels) keeps the
# downloaded packages, each kernel's vmlinuz and built initramfs: a second
# run downloads nothing.  Console logs: $ITM_KMATRIX_LOGS (default
# build/kernel-matrix).  One matrix at a time (a lock in the cache); the
# lines come in the order of --kernels whatever order the guests finish
# in.  See docs/kernel-matrix.md.
set -uo pipefail
# All of it in one block: bash parses the block before running it, so
# editing or checking out this file during a run does not derail the run.
{
cd "$(dirname "$0")/.." || exit 2
repo=$PWD

kernels=host,5.10,6.1,6.12,6.18,latest
keep_going=0
timeout_s=600
budget_s=2700
jobs=
e2e_ids=
usage() { sed -n '3,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
while (($#)); do
	case $1 in
	--kernels) kernels=${2:?--kernels needs a list}; shift ;;
	--kernels=*) kernels=${1#*=} ;;
	--keep-going) keep_going=1 ;;
	--timeout) timeout_s=${2:?--timeout needs seconds}; shift ;;
	--timeout=*) timeout_s=${1#*=} ;;
	--budget) budget_s=${2:?--budget needs seconds}; shift ;;
	--budget=*) budget_s=${1#*=} ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift ;;
	--jobs=*) jobs=${1#*=} ;;
	--e2e) e2e_ids=${2:?--e2e needs node ids}; shift ;;
	--e2e=*) e2e_ids=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) echo "kernel-matrix: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $timeout_s =~ ^[0-9]+$ && $budget_s =~ ^[0-9]+$ ]] ||
	{ echo "kernel-matrix: bad --timeout or --budget (seconds)" >&2; exit 2; }
[[ -z $jobs || $jobs =~ ^[1-9][0-9]*$ ]] ||
	{ echo "kernel-matrix: bad --jobs (a number, 1 or more)" >&2; exit 2; }
if ((EUID != 0)); then
	echo "kernel-matrix: needs root (BPF, namespaces, apt)" >&2
	exit 2
fi

cache=${ITM_KMATRIX_CACHE:-/var/cache/itm-kernels}
logs=${ITM_KMATRIX_LOGS:-$repo/build/kernel-matrix}
note() { echo "kernel-matrix: $*" >&2; }
t_start=$SECONDS

for f in build/ip_traffic_monitor_cli build/tests/bpf/test_bpf_prog; do
	if [[ ! -x $f ]]; then
		note "$f missing: run scripts/setup.sh --test first"
		echo "0 passed, 1 failed"
		exit 1
	fi
done
mkdir -p "$cache/debs" "$logs" || exit 1
exec 9>"$cache/lock"
if ! flock -w 3600 9; then
	note "another kernel matrix holds $cache/lock"
	exit 1
fi

# ---------------------------------------------------------------- host tools
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v zstd >/dev/null || need_pkgs+=(zstd)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v flock >/dev/null || need_pkgs+=(util-linux)
if ((${#need_pkgs[@]})); then
	note "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2; then
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 ||
			{ note "cannot install ${need_pkgs[*]}"; echo "0 passed, 1 failed"; exit 1; }
	fi
fi

# ---------------------------------------------------------------- private apt
ad=$cache/apt
APT=(-o "Dir::State=$ad" -o "Dir::State::Lists=$ad/lists"
	-o "Dir::State::status=$ad/status" -o "Dir::Cache=$ad/cache"
	-o "Dir::Etc::SourceList=$ad/sources.list"
	-o "Dir::Etc::SourceParts=$ad/sources.list.d"
	-o "Dir::Etc::Preferences=$ad/preferences"
	-o "Dir::Etc::PreferencesParts=$ad/preferences.d"
	-o "APT::Architectures::=amd64" -o "Acquire::Languages=none"
	-o "APT::Sandbox::User=root")
apt_ready=0
setup_apt() {
	((apt_ready)) && return 0
	mkdir -p "$ad/lists/partial" "$ad/cache/archives/partial" \
		"$ad/sources.list.d" "$ad/preferences.d" || return 1
	: >"$ad/status"
	local src=/etc/apt/sources.list.d/debian.sources main sec key
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	# The machine's own mirror: the URIs of its Debian and security suites.
	main=$(awk '/^URIs:/{u=$2} /^Suites:/{if ($0 !~ /-security/) {print u; exit}}' "$src" 2>/dev/null)
	sec=$(awk '/^URIs:/{u=$2} /^Suites:/{if ($0 ~ /-security/) {print u; exit}}' "$src" 2>/dev/null)
	if [[ -z $main ]]; then
		note "no Debian mirror found in $src"
		return 1
	fi
	sec=${sec:-$main-security}
	{
		for s in bullseye bookworm bookworm-backports trixie-backports; do
			echo "deb [arch=amd64 signed-by=$key] $main $s main"
		done
		for s in bullseye-security bookworm-security; do
			echo "deb [arch=amd64 signed-by=$key] $sec $s main"
		done
	} >"$ad/sources.list.new"
	# apt gives the lists the mirror's modification time, not the time
	# they were fetched: a stamp of our own says when the last update was.
	local fresh=0
	if cmp -s "$ad/sources.list.new" "$ad/sources.list" &&
		[[ -n $(find "$ad/updated" -mmin -720 2>/dev/null) ]]; then
		fresh=1
	fi
	mv "$ad/sources.list.new" "$ad/sources.list"
	if ((!fresh)); then
		note "apt-get update (private state in $ad)"
		if apt-get "${APT[@]}" -qq update >&2; then
			touch "$ad/updated"
		else
			note "apt-get update failed; using the lists already there"
		fi
	fi
	apt_ready=1
}

# A kernel spec -> "release<TAB>where it comes from".
resolve() {
	local spec=$1 suite ver pkg
	case $spec in
	5.10) suite='bullseye(-security)?' ;;
	6.1) suite='bookworm(-security)?' ;;
	6.12) suite='bookworm-backports' ;;
	latest) suite='trixie-backports' ;;
	6.18)
		pkg=$(apt-cache "${APT[@]}" search --names-only \
			'^linux-image-6\.18\.[0-9]+\+deb13-amd64$' | awk '{print $1}' |
			sort -V | tail -n 1)
		[[ -n $pkg ]] || return 1
		printf '%s\t%s\n' "${pkg#linux-image-}" "trixie-backports"
		return 0
		;;
	*-amd64) printf '%s\t%s\n' "$spec" "as named"; return 0 ;;
	*) return 1 ;;
	esac
	# madison lists the newest version first.
	ver=$(apt-cache "${APT[@]}" madison linux-image-amd64 |
		awk -F'|' -v re=" ${suite}/" '$3 ~ re {gsub(/ /, "", $2); print $2; exit}')
	[[ -n $ver ]] || return 1
	pkg=$(apt-cache "${APT[@]}" show "linux-image-amd64=$ver" |
		sed -n 's/^Depends: //p' | tr ',' '\n' |
		grep -o 'linux-image-[0-9][^ ]*' | head -n 1)
	[[ -n $pkg ]] || return 1
	printf '%s\t%s\n' "${pkg#linux-image-}" "$(echo "$suite" | sed 's/(-security)?$//')"
}

# Download (into $cache/debs, once) and unpack what a release needs.
pkg_exists() { # a real package (not only a name others provide)
	apt-cache "${APT[@]}" show --no-all-versions "$1" 2>/dev/null |
		grep -qx "Package: $1"
}
fetch_debs() { # package... -> paths of the .debs in $cache/debs
	local p f out=()
	for p in "$@"; do
		f=$(compgen -G "$cache/debs/${p}_*.deb" | head -n 1)
		if [[ -z $f ]]; then
			setup_apt || return 1
			(cd "$cache/debs" && apt-get "${APT[@]}" -qq download "$p" >&2) ||
				{ note "cannot download $p"; return 1; }
			f=$(compgen -G "$cache/debs/${p}_*.deb" | head -n 1)
			[[ -n $f ]] || return 1
		fi
		out+=("$f")
	done
	printf '%s\n' "${out[@]}"
}

kernel_pkgs() { # release -> package names
	local rel=$1
	# Packages already downloaded decide offline.
	if compgen -G "$cache/debs/linux-image-$rel-unsigned_*.deb" >/dev/null; then
		echo "linux-image-$rel-unsigned"
		return
	fi
	if compgen -G "$cache/debs/linux-image-${rel}_*.deb" >/dev/null; then
		echo "linux-image-$rel"
		compgen -G "$cache/debs/linux-binary-${rel}_*.deb" >/dev/null && echo "linux-binary-$rel"
		compgen -G "$cache/debs/linux-modules-${rel}_*.deb" >/dev/null && echo "linux-modules-$rel"
		return 0
	fi
	setup_apt || return 1
	if pkg_exists "linux-image-$rel-unsigned"; then
		echo "linux-image-$rel-unsigned"
		return
	fi
	pkg_exists "linux-image-$rel" || return 1
	echo "linux-image-$rel"
	# Newer Debian kernels split the image from the modules.
	pkg_exists "linux-binary-$rel" && echo "linux-binary-$rel"
	pkg_exists "linux-modules-$rel" && echo "linux-modules-$rel"
	return 0
}

busybox_bin() {
	local d=$cache/busybox deb
	if [[ ! -x $d/bin/busybox ]]; then
		deb=$(fetch_debs busybox-static) || return 1
		rm -rf "$d" && mkdir -p "$d" && dpkg-deb -x "$deb" "$d" || return 1
		[[ -x $d/bin/busybox ]] || mv "$d/usr/bin/busybox" "$d/bin/busybox" 2>/dev/null
	fi
	[[ -x $d/bin/busybox ]] && echo "$d/bin/busybox"
}

# -> the directory with vmlinuz and initrd.cpio.gz for a release
prepare_kernel() {
	local rel=$1 d=$cache/$1 bb hash pkgs debs deb moddir f
	bb=$(busybox_bin) || { note "no static busybox"; return 1; }
	hash=$(cat scripts/kernel-matrix-init.sh scripts/kernel-matrix-initrd.py "$bb" |
		sha256sum | cut -c1-12)
	if [[ -s $d/vmlinuz && -s $d/initrd-$hash.cpio.gz ]]; then
		echo "$d"
		return 0
	fi
	pkgs=$(kernel_pkgs "$rel") || { note "no package for $rel"; return 1; }
	# shellcheck disable=SC2086
	debs=$(fetch_debs $pkgs) || return 1
	rm -rf "$d/root" && mkdir -p "$d/root" || return 1
	for deb in $debs; do
		dpkg-deb -x "$deb" "$d/root" || return 1
	done
	moddir=$d/root/lib/modules/$rel
	[[ -d $moddir ]] || moddir=$d/root/usr/lib/modules/$rel
	# /boot/vmlinuz-REL, or (split packages) lib/modules/REL/vmlinuz
	for f in "$d/root/boot/vmlinuz-$rel" "$moddir/vmlinuz" ""; do
		[[ -z $f || -s $f ]] && break
	done
	if [[ -z $f ]] || ! cp "$f" "$d/vmlinuz"; then
		note "no vmlinuz in the packages of $rel"
		return 1
	fi
	rm -f "$d"/initrd-*.cpio.gz
	/usr/bin/python3 scripts/kernel-matrix-initrd.py "$moddir" "$rel" "$bb" \
		scripts/kernel-matrix-init.sh "$d/initrd-$hash.cpio.gz.tmp" >&2 &&
		mv "$d/initrd-$hash.cpio.gz.tmp" "$d/initrd-$hash.cpio.gz" || return 1
	rm -rf "$d/root"
	echo "$d"
}

# ---------------------------------------------------------------- running
# Each booted kernel runs in a background job of its own (boot_kernel);
# the job writes the pid of its timeout(1) to $tmpd/qemu.N while qemu
# runs, so that an interrupted run can stop every guest.
cleanup() {
	local f pid pids=()
	for f in "${tmpd:-/nonexistent}"/job.*; do
		[[ -e $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
	# timeout(1) passes TERM on to qemu.
	for f in "${tmpd:-/nonexistent}"/qemu.*; do
		[[ -e $f ]] || continue
		pid=$(cat "$f") && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
	done
	if ((${#pids[@]})); then
		sleep 2
		kill -KILL "${pids[@]}" 2>/dev/null
	fi
	rm -rf "${tmpd:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tmpd=$(mktemp -d /tmp/itm-kmatrix-host.XXXXXX) || exit 1

# One guest per two CPUs, within memory: each is `-smp 2 -m 2G`.  Two
# guests on a 2-CPU machine put four vCPU threads on two cores: each
# guest ran at half speed (a kernel's e2e subset took 900+ s instead of
# about 400 s) and the pair was no faster than one after the other.
if [[ -z $jobs ]]; then
	mem_kb=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)
	jobs=$(($(nproc) / 2))
	((jobs > ${mem_kb:-0} / (2560 * 1024))) && jobs=$((${mem_kb:-0} / (2560 * 1024)))
	((jobs < 1)) && jobs=1
fi

summarise() { # log rc_of_qemu [time limit]
	local log=$1 qrc=$2 res done_rc
	res=$(tr -d '\r' <"$log" | grep -a -o 'ITMKMX-RESULT: .*' | tail -n 1)
	done_rc=$(tr -d '\r' <"$log" | grep -a -o 'ITMKMX-DONE: [0-9]*' | tail -n 1)
	done_rc=${done_rc#ITMKMX-DONE: }
	if [[ -n $res ]]; then
		res=${res#ITMKMX-RESULT: }
		local verdict=${res##*| }
		local body=${res% | *}
		[[ $done_rc == 0 ]] || verdict=FAIL
		printf '%s\t%s\n' "$body$(kernel_trouble "$log")" "$verdict"
		return
	fi
	local why
	if ((qrc == 124 || qrc == 137)); then
		why="TIMEOUT: killed after ${3:-?} s"
	elif [[ -n $done_rc ]]; then
		why="the guest script exited $done_rc without a result"
	else
		why="no result (qemu exit $qrc)"
	fi
	# What did finish: the BPF suites, and the last e2e result.
	local last bp bn
	bn=$(tr -d '\r' <"$log" | grep -a -c '^ITMKMX-BPF: ')
	bp=$(tr -d '\r' <"$log" | grep -a -c '^ITMKMX-BPF: [^ ]* pass')
	((bn)) && why+="; bpf $bp/$bn"
	last=$(tr -d '\r' <"$log" | grep -a -E '^ITMKMX-(INIT|START|BPF|E2E|LOG:   \[)' |
		tail -n 1 | sed 's/^ITMKMX-[A-Z0-9]*: *//' | cut -c1-160)
	printf '%s\t%s\n' "$why${last:+; last: $last}$(kernel_trouble "$log")" FAIL
}

# What the guest kernel itself complained about (oops, lockups, panics).
kernel_trouble() { # log
	local k
	k=$(tr -d '\r' <"$1" | grep -a -o -E 'BUG: [^[]*|Oops: [^[]*|Kernel panic[^[]*|WARNING: CPU: [0-9]+ PID: [0-9]+ at [^ ]*' |
		sed -E 's/ +$//; s/CPU#[0-9]+/CPU/; s/stuck for [0-9]+s/stuck/; s/CPU: [0-9]+ PID: [0-9]+/CPU PID/' |
		sort | uniq -c | sort -rn | head -n 3 | awk '{$1 = $1 "x"; print}' | paste -sd ';' -)
	[[ -n $k ]] && echo " | kernel: $k"
}


run_host() { # index
	local log
	log=$logs/host-$(uname -r).log
	ITM_KMATRIX_E2E=$e2e_ids bash scripts/kernel-matrix-guest.sh >"$log" 2>&1
	echo "ITMKMX-DONE: $?" >>"$log"
	summarise "$log" 0 >"$tmpd/sum.$1"
}

run_guest() { # index release dir seconds log
	local i=$1 rel=$2 d=$3 limit=$4 log=$5 initrd append
	initrd=$(compgen -G "$d/initrd-*.cpio.gz" | head -n 1)
	append="console=ttyS0 quiet loglevel=5 panic=5 random.trust_cpu=on"
	append+=" mitigations=off itm_repo=$repo"
	[[ -n $e2e_ids ]] && append+=" itm_e2e=$e2e_ids"
	# Guests share nothing writable: no network (-nic none), the host's
	# root read-only, tmpfs inside for everything the tests write, the
	# console on its own log, no monitor socket.
	timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg,thread=multi \
		-cpu max -m 2G -smp 2 -nographic -no-reboot -nic none \
		-device virtio-rng-pci \
		-kernel "$d/vmlinuz" -initrd "$initrd" -append "$append" \
		-virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
		</dev/null >"$log" 2>&1 &
	local qemu_pid=$!
	echo "$qemu_pid" >"$tmpd/qemu.$i"
	wait "$qemu_pid"
	local rc=$?
	rm -f "$tmpd/qemu.$i"
	summarise "$log" "$rc" "$limit" >"$tmpd/sum.$i"
}

# A booted kernel, run as a background job: one boot, and a second one
# when the kernel crashed or hung.  Leaves "body<TAB>verdict" in
# $tmpd/sum.N and the time it ended in $tmpd/end.N.
boot_kernel() { # index release dir log
	local i=$1 rel=$2 d=$3 log=$4 limit first body verdict
	limit=$((budget_s - (SECONDS - t_start)))
	((limit > timeout_s)) && limit=$timeout_s
	run_guest "$i" "$rel" "$d" "$limit" "$log"
	IFS=$'\t' read -r body verdict <"$tmpd/sum.$i"
	# TCG with several vCPU threads now and then trips over the
	# kernel patching its own code (int3 oops at boot, lockups):
	# a guest whose kernel crashed or hung gets one more boot,
	# and its line says what happened the first time.
	first=$(kernel_trouble "$log")
	[[ -z $first && $body == TIMEOUT* ]] && first=" | ${body%%;*}"
	limit=$((budget_s - (SECONDS - t_start)))
	((limit > timeout_s)) && limit=$timeout_s
	if [[ $verdict != PASS && $body != variants:* && -n $first ]] &&
		((limit >= 60)); then
		mv "$log" "${log%.log}.first.log"
		note "booting $rel again (the first boot's kernel:${first#*:})"
		run_guest "$i" "$rel" "$d" "$limit" "$log"
		IFS=$'\t' read -r body verdict <"$tmpd/sum.$i"
		body+=" | second boot; first:${first#*:} (log: $(basename "${log%.log}").first.log)"
		printf '%s\t%s\n' "$body" "$verdict" >"$tmpd/sum.$i"
	fi
	echo "$SECONDS" >"$tmpd/end.$i"
}

IFS=, read -r -a specs <<<"$kernels"
note "up to $jobs guest(s) at a time"
n=${#specs[@]}
passed=0 failed=0 stop=0 printed=0
declare -a line t0 fetch state # state: running, ended, or empty (not started)
declare -A job_pid used_log

# Print the lines of the kernels that are done, in the order of --kernels.
flush() {
	local body verdict
	while ((printed < n)) && [[ ${state[printed]:-} == ended ]]; do
		body="" verdict=""
		IFS=$'\t' read -r body verdict <"$tmpd/sum.$printed"
		[[ -n ${verdict:-} ]] || verdict=FAIL
		echo "kernel-matrix: ${line[printed]} | $body | $verdict ($(($(cat "$tmpd/end.$printed") - t0[printed])) s${fetch[printed]:-})"
		if [[ $verdict == PASS ]]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
		printed=$((printed + 1))
	done
}

finish() { # index body verdict: a kernel decided without a background job
	printf '%s\t%s\n' "$2" "$3" >"$tmpd/sum.$1"
	echo "$SECONDS" >"$tmpd/end.$1"
	state[$1]=ended
}

# Wait until at most $1 guests run; a guest that ends lets the next start.
# Polled: a job is over when it left its end time or is gone.
reap() { # max_running
	local i v running
	while :; do
		running=0
		for i in "${!job_pid[@]}"; do
			if [[ ! -s $tmpd/end.$i ]] && kill -0 "${job_pid[$i]}" 2>/dev/null; then
				running=$((running + 1))
				continue
			fi
			wait "${job_pid[$i]}" 2>/dev/null
			rm -f "$tmpd/job.$i"
			unset "job_pid[$i]"
			[[ -s $tmpd/end.$i ]] ||
				finish "$i" "the guest's job died without a result" FAIL
			state[i]=ended
			IFS=$'\t' read -r _ v <"$tmpd/sum.$i"
			[[ $v == PASS ]] || ((keep_going)) || stop=1
		done
		flush
		((running <= $1)) && return 0
		sleep 1
	done
}

for i in "${!specs[@]}"; do
	spec=${specs[i]}
	# The host row runs alone (its timing is the host's own).
	if [[ $spec == host ]]; then reap 0; else reap $((jobs - 1)); fi
	((stop)) && break
	t0[i]=$SECONDS
	line[i]=$spec
	left=$((budget_s - (SECONDS - t_start)))
	if ((left < 60)); then
		finish "$i" "not run: the ${budget_s} s budget is spent" FAIL
	elif [[ $spec == host ]]; then
		line[i]="$(uname -r) (host)"
		run_host "$i"
		echo "$SECONDS" >"$tmpd/end.$i"
		state[i]=ended
	else
		rel=
		if [[ $spec == *-amd64 ]]; then
			rel=$spec from="as named"
		else
			setup_apt
			IFS=$'\t' read -r rel from < <(resolve "$spec")
		fi
		if [[ -z $rel ]]; then
			finish "$i" "cannot resolve kernel '$spec' in the private apt state" FAIL
		elif ! t1=$SECONDS d=$(prepare_kernel "$rel"); then
			line[i]="$rel ($from)"
			finish "$i" "cannot fetch or prepare $rel" FAIL
		else
			line[i]="$rel ($from)"
			((SECONDS - t1 > 1)) && fetch[i]=", fetch $((SECONDS - t1)) s"
			# The same release twice keeps both consoles.
			log=$logs/$rel.log
			[[ -n ${used_log[$log]:-} ]] && log=$logs/$rel.$i.log
			used_log[$log]=1
			note "booting $rel (log: $log)"
			state[i]=running
			boot_kernel "$i" "$rel" "$d" "$log" &
			job_pid[$i]=$!
			echo "$!" >"$tmpd/job.$i"
		fi
	fi
	if [[ ${state[i]:-} == ended ]]; then
		IFS=$'\t' read -r _ v <"$tmpd/sum.$i"
		[[ $v == PASS ]] || ((keep_going)) || stop=1
		flush
	fi
done
reap 0
echo "kernel-matrix: total $((SECONDS - t_start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
exit
}
