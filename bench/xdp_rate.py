#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Line rate: ingress packets per second that one core sustains, per hook.

Two network namespaces joined by a veth pair (`itmxa<pid>`/`itmxb<pid>`,
removed on exit).  `bench/gen -Q` floods the receiver from the sender's
namespace: AF_PACKET + sendmmsg() with PACKET_QDISC_BYPASS (straight into
veth_xmit, no qdisc on the sender's side), UDP frames to the receiver's MAC
address from NADDR source addresses to destinations the receiver does not
route (dropped after the routing lookup, as a flood to a host is).  The
receiving veth runs NAPI (GRO on, TSO off on the sender so every skb is
eligible) in a threaded NAPI kthread pinned to one CPU, the generator to
the other: everything the receiver does for a packet (XDP, GRO, TC
ingress, IP input) runs in that one thread, whose CPU time
(/proc/PID/schedstat) divided by the packets it took in is the receiver's
cost per packet; 1e9 / that is the packet rate one core sustains.  The wall
rate (packets the receiver took in per second) and the frames veth refused
(its ring full: the receiver was saturated; the generator sends them again)
are reported beside it.

Configurations, interleaved (a different one first each round):
  none     nothing attached
  tc       the daemon (--no-pid): our TC ingress (and egress) program
  xempty   an XDP program that only returns XDP_PASS
  xmin     the minimal XDP counter (bench/xdp_rate.bpf.c: per-CPU hash,
           source address, IP length, XDP_PASS)
  xitm     the daemon with --xdp (our XDP program), when the binary has it
  xitm@before  the same with the --itm-before build (before/after figures
           in the same rounds)
  xk24, xv32, xmim, xlen  the ladder from xmin to our program
           (bench/xdp_rate.bpf.c), not run unless named in --cfgs

  tc@before  the daemon (--no-pid) of the --itm-before build: two TC
           builds compared in the same rounds
  tcpid    (on request) the daemon with attribution on: TC ingress counts
           and looks each packet's socket up
  xitmpid  (on request) the daemon with --xdp and attribution on: XDP
           counts under pid 0, TC ingress looks the socket up and moves
           what it attributes (itm_ingress_mv); its in-situ cost is given
           apart.  With --deliver both find a socket for every packet.

--v6 sends IPv6 instead of IPv4; --naddr sets the number of sources.
--deliver makes the destinations local to the receiver (AnyIP routes)
with a UDP socket on the wildcard address, port 9, that never reads: every
packet goes through UDP input to a socket, the one attribution finds.
--ring sends through an AF_PACKET TX ring (gen -R): frames whose IP header
is outside the skb's linear area.  veth's GRO pulls the IP header in
before TC ingress (the transport header stays outside), so TC ingress
sees 34 (IPv4) or 54 (IPv6) linear bytes; IP input pulls the rest after
it, and the receiver's CPU time counts that too.
--backlog (with --ring, for TC only): GRO off on the receiver, so veth
hands every frame to netif_rx() and TC ingress sees it as the ring made
it (only the Ethernet header linear).  The receive path then runs in the
generator's own context (the NET_RX softirq at its local_bh_enable(), on
its CPU; charged to it, as this kernel has no IRQ time accounting): the
figure is the generator's CPU time per packet, sending and receiving,
and the difference to "none" is what the receiver's side costs more.

Attached XDP programs run in veth's native mode.  The in-situ cost of each
program (BPF run-time statistics, as bench/insitu.py) is measured in the
same runs.  Run as root: bench/xdp_rate.py --gen GEN --itm BIN --attach
build/bench/insitu_attach --obj build/bench/xdp_rate.bpf.o --out PREFIX
"""

import argparse
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from insitu import (Attached, Daemon, Listener, log, med, ns_exec,  # noqa
                    prog_stats, sh, write_results)

CFGS = ["none", "tc", "xempty", "xmin", "xitm"]
LADDER = ["xk24", "xv32", "xmim", "xlen"]
DOC = {
    "xk24": "xmin's parse, one map keyed by struct itm_key",
    "xv32": "xk24 with struct itm_value (32 bytes)",
    "xmim": "xv32 through a one-slot array of maps",
    "xlen": "xmim in xdp.frags, bpf_xdp_get_buff_len() per frame",
    "xitm@before": "our XDP program, the --itm-before build",
    "none": "nothing attached",
    "tc": "our TC program (daemon --no-pid)",
    "tc@before": "our TC program, the --itm-before build (--no-pid)",
    "xempty": "XDP_PASS only",
    "xmin": "minimal XDP counter",
    "xitm": "our XDP program (daemon --no-pid --xdp)",
    "tcpid": "our TC program with attribution (daemon)",
    "xitmpid": "our XDP program + TC ingress moving to processes "
               "(daemon --xdp)",
}


class Topo:
    def __init__(self):
        tag = os.getpid() % 100000
        self.a, self.b = "itmxa%d" % tag, "itmxb%d" % tag
        self.aif, self.bif = "xa0", "xb0"

    def setup(self, rx_cpu, backlog=False, deliver=False):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", self.aif, "netns", self.a, "type", "veth",
           "peer", "name", self.bif, "netns", self.b)
        for ns, dev, v4 in ((self.a, self.aif, "10.81.0.1/24"),
                            (self.b, self.bif, "10.81.0.2/24")):
            sh(*ns_exec(ns, "ip", "link", "set", "lo", "up"))
            sh(*ns_exec(ns, "ip", "addr", "add", v4, "dev", dev))
        # veth hands an skb to the peer's NAPI only when its own device
        # does not segment (no TSO) and the peer has GRO (or XDP).
        sh("ip", "netns", "exec", self.a, "ethtool", "-K", self.aif, "tso",
           "off", "gso", "off")
        sh("ip", "netns", "exec", self.b, "ethtool", "-K", self.bif, "gro",
           "off" if backlog else "on")
        for ns, dev in ((self.a, self.aif), (self.b, self.bif)):
            sh(*ns_exec(ns, "ip", "link", "set", dev, "up"))
        if deliver:
            # gen's destinations (10.78.0.0/16, fd00:78::/64) local to b,
            # its sources without a reverse-path check.
            sh(*ns_exec(self.b, "ip", "route", "add", "local",
                        "10.78.0.0/16", "dev", "lo"))
            sh(*ns_exec(self.b, "ip", "-6", "route", "add", "local",
                        "fd00:78::/64", "dev", "lo"))
            for k in ("all", "default", self.bif):
                sh(*ns_exec(self.b, "sysctl", "-qw",
                            "net.ipv4.conf.%s.rp_filter=0" % k))
        self.bmac = json.loads(sh(*ns_exec(
            self.b, "ip", "-j", "link", "show", self.bif)))[0]["address"]
        self.napi = None
        if backlog:
            return
        # Threaded NAPI (sysfs of the namespace: ip netns exec mounts it).
        sh("ip", "netns", "exec", self.b, "sh", "-c",
           "echo 1 > /sys/class/net/%s/threaded" % self.bif)
        self.napi = self.napi_pid()
        sh("taskset", "-pc", str(rx_cpu), str(self.napi))

    def napi_pid(self):
        for _ in range(50):
            for pid_ in os.listdir("/proc"):
                if not pid_.isdigit():
                    continue
                try:
                    comm = open("/proc/%s/comm" % pid_).read().strip()
                except OSError:
                    continue
                if comm.startswith("napi/%s-" % self.bif):
                    return int(pid_)
            time.sleep(0.1)
        raise RuntimeError("no threaded NAPI kthread for %s" % self.bif)

    def teardown(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)


def napi_ns(pid_):
    if pid_ is None:
        return 0
    return int(open("/proc/%d/schedstat" % pid_).read().split()[0])


def link(ns, dev):
    return json.loads(sh(*ns_exec(ns, "ip", "-s", "-j", "link", "show",
                                  dev)))[0]["stats64"]


def xdp_prog(ns, dev):
    """Id of the XDP program attached to dev, or None."""
    j = json.loads(sh(*ns_exec(ns, "bpftool", "-j", "net", "show", "dev",
                               dev)))
    for e in j:
        for x in e.get("xdp", []):
            return x["id"]
    return None


def wait_prog(daemon, topo):
    deadline = time.time() + 30
    while True:
        prog = xdp_prog(topo.b, topo.bif)
        if prog:
            break
        if daemon.p.poll() is not None or time.time() > deadline:
            daemon.stop()
            raise RuntimeError("daemon did not attach XDP: %s" %
                               daemon.p.stderr.read())
        time.sleep(0.1)
    # The daemon runs its task_file iterator at start: let it end.
    time.sleep(0.5)
    return prog


def has_xdp(binary):
    out = subprocess.run([binary, "--help"], capture_output=True,
                         text=True).stdout
    return bool(re.search(r"--xdp\b", out))


def one_run(args, topo, cfg):
    pin = "/sys/fs/bpf/itm_xrate_%d" % os.getpid()
    held = []
    prog = prog2 = None
    try:
        if cfg in ["xempty", "xmin"] + LADDER:
            a = Attached(args.attach, topo.b, topo.bif, "xdp", args.obj,
                         [cfg])
            held.append(a)
            prog = a.ids[cfg]
        elif cfg in ("tc", "tc@before", "xitm", "xitm@before", "tcpid",
                     "xitmpid"):
            tc = cfg.startswith("tc")
            extra = ([] if cfg.endswith("pid") else ["--no-pid"]) + (
                ["--xdp"] if not tc else [])
            binary = {"tc": args.itm, "tc@before": args.itm_before,
                      "tcpid": args.itm, "xitmpid": args.itm_xdp,
                      "xitm": args.itm_xdp,
                      "xitm@before": args.itm_before}[cfg]
            d = Daemon(binary, topo.b, topo.bif, pin, extra)
            held.append(d)
            if tc:
                prog = d.prog_id("ingress")  # its pinned tcx/tc link
                time.sleep(0.5)
            else:
                prog = wait_prog(d, topo)
                if cfg == "xitmpid":
                    prog2 = d.prog_id("ingress")
        s0, t0 = link(topo.b, topo.bif), link(topo.a, topo.aif)
        n0 = napi_ns(topo.napi)
        p0 = prog_stats(prog) if prog else (0, 0)
        q0 = prog_stats(prog2) if prog2 else (0, 0)
        argv = ["taskset", "-c", str(args.tx_cpu), args.gen, "-Q", "-i",
                topo.aif, "-n", str(args.packets), "-a", str(args.naddr),
                "-S", "-m", topo.bmac] + (
                    ["-6", "-s", "fd00:79::"] if args.v6 else
                    ["-s", "10.79.0.0"]) + (["-R"] if args.ring else [])
        u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        g = dict(kv.split("=") for kv in sh(*ns_exec(topo.a, *argv),
                                            timeout=900).split())
        u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Let the NAPI thread finish the ring before reading its time.
        time.sleep(0.2)
        s1, t1 = link(topo.b, topo.bif), link(topo.a, topo.aif)
        n1 = napi_ns(topo.napi)
        p1 = prog_stats(prog) if prog else (0, 0)
        q1 = prog_stats(prog2) if prog2 else (0, 0)
        rx = s1["rx"]["packets"] - s0["rx"]["packets"]
        res = {"cfg": cfg, "sent": int(g["sent"]),
               "seconds": float(g["seconds"]), "rx": rx,
               "drops": t1["tx"]["dropped"] - t0["tx"]["dropped"],
               "napi_ns": n1 - n0,
               "gen_ns": 1e9 * (u1.ru_utime + u1.ru_stime - u0.ru_utime -
                                u0.ru_stime),
               "load": float(open("/proc/loadavg").read().split()[0]),
               "prog_ns": None, "prog_cnt": p1[1] - p0[1]}
        if res["prog_cnt"] > 0:
            res["prog_ns"] = (p1[0] - p0[0]) / res["prog_cnt"]
        # xitmpid: TC ingress's move program beside the XDP one.
        res["prog2_ns"] = ((q1[0] - q0[0]) / (q1[1] - q0[1])
                           if q1[1] > q0[1] else None)
        return res
    finally:
        for h in reversed(held):
            h.stop()
        sh("rm", "-rf", pin, check=False)


def fmt(x, spec="%.0f"):
    return "–" if x is None else spec % x


def markdown(args, runs, cfgs):
    out = []
    w = out.append
    loads = [r["load"] for r in runs]

    def col(cfg, f):
        return med([f(r) for r in runs if r["cfg"] == cfg])

    def spread(cfg, f):
        v = [f(r) for r in runs if r["cfg"] == cfg and f(r) is not None]
        return "%s–%s" % (fmt(min(v)), fmt(max(v))) if v else "–"

    def cpu(r):
        t = r["gen_ns"] if args.backlog else r["napi_ns"]
        return t / r["rx"] if r["rx"] else None

    def wall(r):
        return r["rx"] / r["seconds"] if r["seconds"] else None

    w("### Line rate: one receiving core (`bench/xdp_rate.py`)")
    w("")
    w("Kernel %s, %d CPUs; %d packets per run, %d round(s), IPv4 UDP "
      "from %d sources, configurations interleaved; median (min–max) of "
      "rounds. Load average (1-min) during the runs: %.2f–%.2f." % (
          platform.release(), os.cpu_count(), args.packets, args.rounds,
          args.naddr, min(loads), max(loads)))
    if args.v6:
        out[-1] = out[-1].replace("IPv4 UDP", "IPv6 UDP")
    if args.ring:
        out[-1] = out[-1].replace(" UDP", " UDP (AF_PACKET TX ring frames)")
    if args.backlog:
        out[-1] += (" Receiver in backlog mode (GRO off, netif_rx()): the "
                    "CPU column is the generator's CPU time per packet, "
                    "sending and receiving in one context.")
    w("")
    w("| configuration | receiver CPU ns/packet | (min–max) | one core "
      "sustains, Mpps | × tc | wall rate, kpps | frames refused, ring "
      "full (resent) | in-situ BPF ns/packet | (min–max) | ÷ xmin | "
      "program runs = packets |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    xmin_ns = col("xmin", lambda r: r["prog_ns"]) if "xmin" in cfgs \
        else None
    tc_ns = col("tc", cpu)
    for c in cfgs:
        ns_ = col(c, cpu)
        pn = col(c, lambda r: r["prog_ns"])
        w("| %s: %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c, DOC[c], fmt(ns_), spread(c, cpu),
            fmt(None if not ns_ else 1e3 / ns_, "%.2f"),
            fmt(None if not ns_ or not tc_ns else tc_ns / ns_, "%.2f×"),
            fmt(None if col(c, wall) is None else col(c, wall) / 1e3),
            fmt(col(c, lambda r: r["drops"])),
            fmt(pn), spread(c, lambda r: r["prog_ns"]),
            fmt(None if not pn or not xmin_ns else pn / xmin_ns, "%.2f×"),
            "–" if c == "none" else "yes" if all(
                r["prog_cnt"] == r["rx"] for r in runs if r["cfg"] == c)
            else "no"))
    w("")
    extra = [r["rx"] - r["sent"] for r in runs]
    w("Received − sent per run: %d to %d (a few link-local frames of the "
      "namespaces come on top of the flood; below 0 would be a loss). "
      "\"Frames refused\": sendmmsg() calls veth turned away because the "
      "receiver's ring was full (the generator sends them again): how "
      "often the receiving core was saturated." % (min(extra), max(extra)))
    w("")
    xm, xi = col("xmin", lambda r: r["prog_ns"]), \
        col("xitm", lambda r: r["prog_ns"])
    xe = col("xempty", lambda r: r["prog_ns"])
    xb = col("xitm@before", lambda r: r["prog_ns"])
    if xm and xb:
        w("Before (`--itm-before`): %.2f× the minimal XDP counter." %
          (xb / xm))
    if xm and xi:
        w("In situ, our XDP program ÷ the minimal XDP counter: %.2f× "
          "(%.2f× without the statistics' overhead, the empty XDP "
          "program's %s ns)." % (xi / xm, (xi - xe) / (xm - xe) if xe and
                                  xm > xe else float("nan"), fmt(xe)))
    nn = col("none", cpu)
    for c in ("tc", "tc@before"):
        if c in cfgs and nn and col(c, cpu):
            d = [cpu(r) - cpu(q) for r, q in zip(
                [r for r in runs if r["cfg"] == c],
                [q for q in runs if q["cfg"] == "none"])]
            w("Receiver CPU of %s over none: %+.0f ns/packet (per round "
              "%s)." % (c, col(c, cpu) - nn, ", ".join("%+.0f" % x
                                                       for x in d)))
    if "tc" in cfgs and "tc@before" in cfgs:
        d = [cpu(r) - cpu(q) for r, q in zip(
            [r for r in runs if r["cfg"] == "tc"],
            [q for q in runs if q["cfg"] == "tc@before"])]
        w("tc − tc@before, same round: %s ns/packet (median %+.0f)." % (
            ", ".join("%+.0f" % x for x in d), med(d)))
    if "xitmpid" in cfgs:
        mv = col("xitmpid", lambda r: r.get("prog2_ns"))
        w("xitmpid in situ: XDP %s ns + TC ingress's move program %s ns "
          "(%s) per packet; tcpid's TC program %s ns." % (
              fmt(col("xitmpid", lambda r: r["prog_ns"])), fmt(mv),
              spread("xitmpid", lambda r: r.get("prog2_ns")),
              fmt(col("tcpid", lambda r: r["prog_ns"]))))
        if "tcpid" in cfgs and col("tcpid", cpu):
            d = [cpu(r) - cpu(q) for r, q in zip(
                [r for r in runs if r["cfg"] == "xitmpid"],
                [q for q in runs if q["cfg"] == "tcpid"])]
            w("Receiver CPU, xitmpid − tcpid, same round: %s ns/packet "
              "(median %+.0f)." % (", ".join("%+.0f" % x for x in d),
                                   med(d)))
    if "xitm" not in cfgs and any(c.startswith("x") for c in cfgs):
        w("Our XDP program: not measured (`%s` has no --xdp)." % args.itm_xdp)
    w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen", required=True)
    ap.add_argument("--itm", required=True)
    ap.add_argument("--itm-xdp", help="a build with --xdp (default --itm)")
    ap.add_argument("--itm-before", default="",
                    help="another build: adds xitm@before to the rounds")
    ap.add_argument("--v6", action="store_true", help="IPv6 traffic")
    ap.add_argument("--ring", action="store_true",
                    help="frames from an AF_PACKET TX ring (gen -R)")
    ap.add_argument("--backlog", action="store_true",
                    help="GRO off on the receiver: no NAPI, the receive "
                    "path runs in the generator's context (its CPU time "
                    "is measured)")
    ap.add_argument("--deliver", action="store_true",
                    help="destinations local to the receiver, a UDP socket "
                    "on port 9 for every packet (for tcpid, xitmpid)")
    ap.add_argument("--attach", required=True)
    ap.add_argument("--obj", required=True,
                    help="build/bench/xdp_rate.bpf.o")
    ap.add_argument("--out", required=True)
    ap.add_argument("--packets", type=int, default=2000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--naddr", type=int, default=1000)
    ap.add_argument("--cfgs", default=",".join(CFGS))
    args = ap.parse_args()
    args.itm_xdp = args.itm_xdp or args.itm
    if args.itm_before and not any(c.endswith("@before")
                                   for c in args.cfgs.split(",")):
        args.cfgs += ",xitm@before"
    cfgs = [c for c in args.cfgs.split(",")
            if (c not in ("xitm", "xitmpid") or has_xdp(args.itm_xdp)) and
            (c != "xitm@before" or (args.itm_before and
                                    has_xdp(args.itm_before)))]
    ncpu = os.cpu_count()
    args.tx_cpu, rx_cpu = 0, ncpu - 1
    topo = Topo()
    stats_before = sh("sysctl", "-n", "kernel.bpf_stats_enabled").strip()

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    runs = []
    listener = None
    try:
        topo.setup(rx_cpu, args.backlog, args.deliver)
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        if args.deliver:
            listener = Listener(topo.b, None)
        for rnd in range(args.rounds):
            k = rnd % len(cfgs)
            for cfg in cfgs[k:] + cfgs[:k]:
                log("round %d %s" % (rnd + 1, cfg))
                runs.append(one_run(args, topo, cfg))
    finally:
        if listener:
            listener.stop()
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=" + stats_before,
           check=False)
        topo.teardown()
    write_results(args.out, markdown(args, runs, cfgs), runs)


if __name__ == "__main__":
    main()
