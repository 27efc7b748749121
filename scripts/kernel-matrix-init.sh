#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the initramfs scripts/kernel-matrix.sh boots each kernel with
# (built by kernel-matrix-initrd.py; busybox only).  Loads the modules in
# /modules.load, mounts the host's root read-only over 9p on /newroot with
# tmpfs wherever the tests write, bpffs, cgroup2 and debugfs, chroots in
# and runs scripts/kernel-matrix-guest.sh from the checkout named by
# itm_repo= on the kernel command line; then powers off.  Every line meant
# for the host starts with "ITMKMX"; the host parses the serial console.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "ITMKMX-INIT: $*" >/dev/console; }
die() {
	say "FATAL: $*"
	echo "ITMKMX-DONE: 99" >/dev/console
	poweroff -f
	sleep 60
}
rel=$(uname -r)
say "kernel $rel up after $(cut -d' ' -f1 /proc/uptime) s"
while read -r m; do
	[ -n "$m" ] || continue
	out=$(insmod "/lib/modules/$rel/$m" 2>&1) || say "insmod $m: $out"
done </modules.load
echo /sbin/modprobe >/proc/sys/kernel/modprobe 2>/dev/null

mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 \
	root /newroot || die "cannot mount the host root over 9p"
R=/newroot
repo=${itm_repo:-/}
# A checkout under a directory that gets a tmpfs below stays visible.
mkdir -p /repo
mount -o bind "$R$repo" /repo || die "no $repo on the host root"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts 2>/dev/null
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mount -t devpts devpts $R/dev/pts 2>/dev/null
mount -t tmpfs tmpfs $R/dev/shm 2>/dev/null
for d in tmp run var/tmp var/lib/ip_traffic_monitor root; do
	[ -d $R/$d ] && mount -t tmpfs -o mode=1777 tmpfs $R/$d
done
chmod 700 $R/root 2>/dev/null
mount -t bpf bpf $R/sys/fs/bpf || say "no bpffs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || say "no cgroup2"
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
# Loopback of the initial namespace up (the tests make their own).
[ -e /sys/class/net/lo ] && busybox ip link set lo up 2>/dev/null

if [ ! -e "$R$repo/scripts/kernel-matrix-guest.sh" ]; then
	mkdir -p "$R$repo" && mount -o bind /repo "$R$repo" ||
		die "cannot bind $repo back over the tmpfs"
fi
say "root mounted, running the guest script after $(cut -d' ' -f1 /proc/uptime) s"
chroot $R /usr/bin/env -i HOME=/root TERM=dumb \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	ITM_KMATRIX_GUEST=1 ITM_KMATRIX_E2E="${itm_e2e:-}" \
	/bin/bash -c "cd '$repo' && exec scripts/kernel-matrix-guest.sh" \
	>/dev/console 2>&1 </dev/null
rc=$?
sync
echo "ITMKMX-DONE: $rc" >/dev/console
poweroff -f
sleep 60
