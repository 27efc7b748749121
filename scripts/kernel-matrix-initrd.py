#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the initramfs scripts/kernel-matrix.sh boots a Debian kernel with.

    kernel-matrix-initrd.py MODDIR RELEASE BUSYBOX INIT OUT.cpio.gz

MODDIR is the kernel package's lib/modules/RELEASE (extracted with
dpkg-deb -x).  The image holds a static busybox, INIT as /init, and the
modules named below plus everything they depend on, decompressed (.ko.xz,
.ko.zst, .ko.gz) so busybox insmod can load them.  Dependencies come from
each module's own .modinfo "depends=" (Debian's packages ship no
modules.dep: depmod runs at install time), and /modules.load lists the
modules to insmod in dependency order (built-in ones are left out,
modules.builtin says which).  A modules.dep for busybox modprobe is
written too, so the kernel can load the other net/sched modules on demand.
"""

import gzip
import lzma
import os
import re
import stat
import subprocess
import sys

# Loaded at boot, in this order (their dependencies first): the 9p root,
# an entropy source, and what the tests attach to / with.
PRELOAD = [
    "virtio", "virtio_ring", "virtio_pci", "virtio_rng",
    "netfs", "fscache", "9pnet", "9pnet_virtio", "9p",
    "overlay", "ipv6", "af_packet", "veth",
    "sch_ingress", "cls_bpf", "act_bpf", "act_gact", "sch_fq_codel",
]
# Also in the image (loadable on demand through busybox modprobe).
EXTRA_DIRS = ["kernel/net/sched"]


def norm(name):
    return name.replace("-", "_")


def modname(path):
    base = os.path.basename(path)
    return norm(re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base))


def decompress(path):
    if path.endswith(".xz"):
        with open(path, "rb") as f:
            return lzma.decompress(f.read())
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True,
                              capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def depends(data):
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", data)
    if not m or not m.group(1):
        return []
    return [norm(d) for d in m.group(1).decode().split(",") if d]


def cpio_newc(entries, out):
    """entries: (name, mode, data_or_None, target_for_symlink)."""
    ino = 1
    with gzip.open(out, "wb", compresslevel=6) as f:
        def put(name, mode, data):
            nonlocal ino
            nb = name.encode() + b"\x00"
            hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
                ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
            ino += 1
            f.write(hdr.encode() + nb)
            f.write(b"\x00" * ((4 - (110 + len(nb)) % 4) % 4))
            f.write(data)
            f.write(b"\x00" * ((4 - len(data) % 4) % 4))
        for name, mode, data in entries:
            put(name, mode, data)
        put("TRAILER!!!", 0, b"")


def main():
    moddir, release, busybox, init, out = sys.argv[1:6]
    builtin = set()
    bi = os.path.join(moddir, "modules.builtin")
    if os.path.exists(bi):
        with open(bi) as f:
            builtin = {modname(l.strip()) for l in f if l.strip()}
    paths = {}
    for root, _, files in os.walk(os.path.join(moddir, "kernel")):
        for fn in files:
            if re.search(r"\.ko(\.(xz|zst|gz))?$", fn):
                p = os.path.join(root, fn)
                paths[modname(p)] = os.path.relpath(p, moddir)

    wanted = [m for m in PRELOAD if m in paths]
    missing = [m for m in PRELOAD if m not in paths and m not in builtin]
    extra = [n for n, rel in paths.items()
             if any(rel.startswith(d + "/") for d in EXTRA_DIRS)]

    data, deps, order, seen = {}, {}, [], set()

    def visit(name, stack=()):
        if name in seen or name in builtin or name not in paths:
            return
        if name in stack:
            return
        if name not in data:
            data[name] = decompress(os.path.join(moddir, paths[name]))
            deps[name] = depends(data[name])
        for d in deps[name]:
            visit(d, stack + (name,))
        seen.add(name)
        order.append(name)

    for m in wanted:
        visit(m)
    load = list(order)
    for m in sorted(extra):
        visit(m)

    def ko(name):
        return re.sub(r"\.ko(\.(xz|zst|gz))?$", ".ko", paths[name])

    base = "lib/modules/" + release
    entries = []
    dirs = set()

    def mkdirs(path):
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in dirs:
                dirs.add(d)
                entries.append((d, stat.S_IFDIR | 0o755, b""))

    for d in ("bin", "sbin", "dev", "proc", "sys", "newroot", "tmp", "run"):
        mkdirs(d)
    with open(busybox, "rb") as f:
        entries.append(("bin/busybox", stat.S_IFREG | 0o755, f.read()))
    # The kernel's usermode helper runs /sbin/modprobe in this root.
    entries.append(("sbin/modprobe", stat.S_IFLNK | 0o777, b"/bin/busybox"))
    with open(init, "rb") as f:
        entries.append(("init", stat.S_IFREG | 0o755, f.read()))
    moddep = []
    for name in order:
        rel = ko(name)
        mkdirs(os.path.dirname(base + "/" + rel))
        entries.append((base + "/" + rel, stat.S_IFREG | 0o644, data[name]))
        moddep.append("%s:%s" % (rel, "".join(
            " " + ko(d) for d in deps[name] if d in paths and d not in builtin)))
    mkdirs(base)
    entries.append((base + "/modules.dep", stat.S_IFREG | 0o644,
                    ("\n".join(moddep) + "\n").encode()))
    for fn in ("modules.builtin", "modules.order"):
        p = os.path.join(moddir, fn)
        if os.path.exists(p):
            with open(p, "rb") as f:
                entries.append((base + "/" + fn, stat.S_IFREG | 0o644,
                                f.read()))
    entries.append(("modules.load", stat.S_IFREG | 0o644,
                    "".join(ko(n) + "\n" for n in load).encode()))
    cpio_newc(entries, out)
    print("initrd %s: %d modules (%d at boot: %s)%s" % (
        out, len(order), len(load), " ".join(load),
        "; not modules in this package: " + " ".join(missing) if missing else ""))


if __name__ == "__main__":
    main()
