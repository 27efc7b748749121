#!/usr/bin/env bash
# Build the Debian package with Debian's own tooling (dpkg-buildpackage -b)
# from this tree, check it with lintian (no errors allowed), then install it
# and run it in a brand-new Debian 12 root (fresh-debian).  As root.
#   scripts/package-check.sh [OUTDIR]      (the .deb is copied to OUTDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
outdir=${1:-}

step() { # description command...
	local what=$1 log
	shift
	log=$(mktemp)
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "package: $what failed: $*" >&2
		exit 1
	fi
	rm -f "$log"
}

fresh=${FRESH_DEBIAN:-}
for c in "$repo/../shared/tools/fresh-debian" /work/shared/tools/fresh-debian; do
	[[ -z $fresh && -x $c ]] && fresh=$c
done

export DEBIAN_FRONTEND=noninteractive
need=()
for p in debhelper dpkg-dev lintian fakeroot; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		need+=("$p")
done
if ((${#need[@]})); then
	echo "package: installing ${need[*]}"
	step "apt-get update" apt-get update
	step "installing packaging tools" apt-get install -y --no-install-recommends "${need[@]}"
fi
echo "package: installing build dependencies from debian/control"
step "apt-get build-dep" apt-get build-dep -y --no-install-recommends "$repo"

work=$(mktemp -d /var/tmp/itm-package.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir "$work/src"
# The files git knows (committed or not, minus ignored ones): no build dirs.
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - -cf - | tar -C "$work/src" -xf -

echo "package: dpkg-buildpackage -b"
t0=$SECONDS
(cd "$work/src" && step "dpkg-buildpackage" dpkg-buildpackage -b -us -uc)
deb=$(ls "$work"/ip-traffic-monitor-cli_*.deb)
echo "package: built $(basename "$deb") in $((SECONDS - t0)) s"
dpkg-deb --contents "$deb" | awk '{print "  " $6}' | grep -v '/$'

echo "package: lintian"
changes=$(ls "$work"/*.changes)
lintian --fail-on error --info "$changes" | sed 's/^/  /' || {
	echo "package: lintian reports errors" >&2
	exit 1
}
[[ -n $outdir ]] && mkdir -p "$outdir" && cp "$deb" "$outdir/"

if [[ -z $fresh ]]; then
	echo "package: fresh-debian not found (set FRESH_DEBIAN); not installed" >&2
	exit 1
fi
# fresh-debian copies a git repository into the new root: hand it one that
# holds just the package.
mkdir "$work/deb"
cp "$deb" "$work/deb/"
git -C "$work/deb" init -q
git -C "$work/deb" add .
git -C "$work/deb" -c user.name=ci -c user.email=ci@localhost commit -qm deb
echo "package: installing and running it on a fresh Debian 12"
"$fresh" "$work/deb" '
	set -e
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends ./*.deb >/dev/null
	ip_traffic_monitor_cli --version
	test -s /usr/share/man/man8/ip_traffic_monitor_cli.8.gz
	bash -c ". /usr/share/bash-completion/completions/ip_traffic_monitor_cli &&
		complete -p ip_traffic_monitor_cli"
	ls /usr/share/ip_traffic_monitor_cli/* 2>/dev/null || true
	# No systemd in this root: postinst made the service user all the same.
	if command -v systemd-sysusers >/dev/null; then echo "package: systemd-sysusers present"; fi
	getent passwd ip_traffic_monitor
	test -f /lib/systemd/system/ip_traffic_monitor.socket
	# On lo of a private network namespace: the host is left alone.
	unshare --net ip_traffic_monitor_cli -i lo -d 2 --no-summary
	echo "package: installed and ran on a fresh root"
'
