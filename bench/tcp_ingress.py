#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TC ingress in situ on a TCP bulk transfer: two daemon builds, interleaved.

A TCP sender in one namespace writes --mbytes MiB to a reader in the other
over a veth pair (offloads as veth has them: the sender's TSO passes GSO
skbs through, so the receiver's TC ingress sees large skbs whose headers
the sending stack put in the linear area and whose payload is in page
fragments).  The daemon runs at the receiving end, with attribution (the
default: the ingress program looks each skb's socket up by its ports) or
--no-pid.  The figure is the ingress program's BPF run-time statistics:
ns per run (per skb), and the number of runs.

Configurations: pid, nopid (--itm), pid@before, nopid@before
(--itm-before).  Run as root:
  bench/tcp_ingress.py --itm BIN --itm-before OLD_BIN --out PREFIX
"""

import argparse
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from insitu import (Daemon, Topo, log, med, ns_exec, prog_stats,  # noqa
                    sh, write_results)

PORT = 5301
READER = ("import socket,sys\n"
          "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else "
          "socket.AF_INET)\n"
          "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
          "s.bind((sys.argv[1],%d)); s.listen(1)\n"
          "print('ready',flush=True)\n"
          "while True:\n"
          "  c,_=s.accept(); n=0\n"
          "  while True:\n"
          "    b=c.recv(1<<20)\n"
          "    if not b: break\n"
          "    n+=len(b)\n"
          "  c.close(); print(n,flush=True)\n" % PORT)
WRITER = ("import socket,sys\n"
          "a,n=sys.argv[1],int(sys.argv[2])\n"
          "s=socket.create_connection((a,%d))\n"
          "buf=bytes(1<<20)\n"
          "while n>0:\n"
          "  s.sendall(buf[:min(n,len(buf))]); n-=len(buf)\n"
          "s.close()\n" % PORT)


def one_run(args, topo, reader, cfg, dst):
    pin = "/sys/fs/bpf/itm_tcpin_%d" % os.getpid()
    binary = args.itm_before if cfg.endswith("@before") else args.itm
    extra = ["--no-pid"] if cfg.startswith("nopid") else []
    d = Daemon(binary, topo.b, topo.bif, pin, extra)
    try:
        prog = d.prog_id("ingress")
        time.sleep(0.5)  # the daemon's start-up scan of sockets
        p0 = prog_stats(prog)
        t0 = time.time()
        sh(*ns_exec(topo.a, sys.executable, "-c", WRITER, dst,
                    str(args.mbytes << 20)), timeout=600)
        got = int(reader.stdout.readline())
        secs = time.time() - t0
        p1 = prog_stats(prog)
    finally:
        d.stop()
        sh("rm", "-rf", pin, check=False)
    if got != args.mbytes << 20:
        raise RuntimeError("reader got %d bytes" % got)
    runs = p1[1] - p0[1]
    return {"cfg": cfg, "fam": "v6" if ":" in dst else "v4", "runs": runs,
            "ns": (p1[0] - p0[0]) / runs if runs else None,
            "mbps": 8 * got / secs / 1e6,
            "load": float(open("/proc/loadavg").read().split()[0])}


def markdown(args, runs, cfgs):
    out = []
    w = out.append
    loads = [r["load"] for r in runs]
    w("### TC ingress in situ, TCP bulk (`bench/tcp_ingress.py`)")
    w("")
    w("Kernel %s, %d CPUs; %d MiB per run, %d round(s), configurations "
      "interleaved; median (min–max) of rounds. Load average (1-min): "
      "%.2f–%.2f. \"before\" is `%s`." % (
          platform.release(), os.cpu_count(), args.mbytes, args.rounds,
          min(loads), max(loads), args.itm_before))
    w("")
    w("| IP | configuration | ingress ns per run | (min–max) | runs | "
      "Mbit/s |")
    w("|---|---|---:|---:|---:|---:|")
    for fam in ("v4", "v6"):
        for c in cfgs:
            sel = [r for r in runs if r["cfg"] == c and r["fam"] == fam]
            if not sel:
                continue
            ns_ = [r["ns"] for r in sel]
            w("| %s | %s | %.0f | %.0f–%.0f | %d | %.0f |" % (
                fam, c, med(ns_), min(ns_), max(ns_),
                med([r["runs"] for r in sel]),
                med([r["mbps"] for r in sel])))
    w("")
    for fam in ("v4", "v6"):
        for c in ("pid", "nopid"):
            a = [r["ns"] for r in runs if r["cfg"] == c and r["fam"] == fam]
            b = [r["ns"] for r in runs
                 if r["cfg"] == c + "@before" and r["fam"] == fam]
            if a and b:
                w("%s %s ÷ before, same round: %s (median %.2f×)." % (
                    fam, c, ", ".join("%.2f" % (x / y)
                                      for x, y in zip(a, b)),
                    med([x / y for x, y in zip(a, b)])))
    w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--itm", required=True)
    ap.add_argument("--itm-before", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mbytes", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cfgs", default="pid,pid@before,nopid,nopid@before")
    args = ap.parse_args()
    cfgs = args.cfgs.split(",")
    topo = Topo()
    stats_before = sh("sysctl", "-n", "kernel.bpf_stats_enabled").strip()
    readers = []
    runs = []
    try:
        topo.setup()
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        for dst in ("10.77.0.2", "fd00:77::2"):
            r = subprocess.Popen(ns_exec(topo.b, sys.executable, "-c",
                                         READER, dst),
                                 stdout=subprocess.PIPE, text=True)
            readers.append(r)
            if r.stdout.readline().strip() != "ready":
                raise RuntimeError("reader failed")
        for rnd in range(args.rounds):
            k = rnd % len(cfgs)
            for cfg in cfgs[k:] + cfgs[:k]:
                for r, dst in zip(readers, ("10.77.0.2", "fd00:77::2")):
                    log("round %d %s %s" % (rnd + 1, cfg, dst))
                    runs.append(one_run(args, topo, r, cfg, dst))
    finally:
        for r in readers:
            r.kill()
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=" + stats_before,
           check=False)
        topo.teardown()
    write_results(args.out, markdown(args, runs, cfgs), runs)


if __name__ == "__main__":
    main()
