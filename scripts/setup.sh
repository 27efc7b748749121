#!/usr/bin/env bash
# Install what building (and, with --test, testing) needs on Debian 12,
# then configure and build into ./build.  Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(meson ninja-build pkg-config gcc clang llvm libbpf-dev libelf-dev
	zlib1g-dev libmaxminddb-dev libmicrohttpd-dev libfixbuf-dev bpftool
	iproute2)
TEST_PKGS=(libcmocka-dev python3 python3-pytest ethtool tcpdump curl nodejs
	prometheus mmdb-bin libmaxmind-db-writer-perl netsniff-ng iperf3
	util-linux procps nfdump pmacct python3-ipfix)

want=("${BUILD_PKGS[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $EUID -ne 0 ]]; then
		echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 2
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Services the packages ship (prometheus) must not be started here.
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The tests run their own flow collectors; the packaged ones (nfcapd,
	# pmacct's daemons, one of them sniffing) stay off where systemd runs.
	if [[ -d /run/systemd/system ]]; then
		systemctl disable --now nfdump.service nfacctd.service \
			pmacctd.service sfacctd.service >/dev/null 2>&1 || true
	fi
fi
# npm: Debian's package, unless a nodejs build that bundles it is installed
# (NodeSource's nodejs conflicts with Debian's npm).
if [[ "${1:-}" == "--test" ]] && ! command -v npm >/dev/null; then
	apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

if [[ ! -f build/build.ninja ]]; then
	meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/ip_traffic_monitor_cli"
