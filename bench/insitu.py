#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""In-situ cost of the TC programs: the kernel's own BPF run-time
statistics (kernel.bpf_stats_enabled=1; run_time_ns / run_cnt per program)
while real traffic crosses a veth pair, for our programs and for reference
programs on the same packets.

    netns itmia<tag>: ia0  <== veth ==>  netns itmib<tag>: ib0

bench/gen sends UDP packets from ia0.  Each run has, at ia0 egress and at
ib0 ingress, an empty program (clsact filter, bench/insitu_attach) and ONE
program under test: the minimal per-address counter (bench/insitu.bpf.c
"min"), a rung of the ladder of variants between it and our program, or
ip_traffic_monitor_cli -i ia0 in itmia (egress = tx) and -i ib0 in itmib
(ingress = rx), with --no-pid or with process attribution.  One program
at a time, because programs attached together evict each other's maps
from the cache; configurations are interleaved, a different one first in
every round.

Traffic modes:
  packet  AF_PACKET frames to ib0's MAC address, source and destination
          both varying (N remote addresses at egress and at ingress).  At
          ib0 a UDP socket bound to the wildcard address on the destination
          port exists, so the ingress socket lookup of attribution finds a
          socket (and its owner); ib0 then drops the packets (no route).  At egress the skb's socket is gen's AF_PACKET socket, which
          has no owner.
  socket  gen sends through a UDP socket (routed via ib0's address), so at
          egress the skb carries a socket whose owner attribution finds.
          Only the egress side is reported (ingress sees one source).
  ring    packet mode through an AF_PACKET TX ring (gen -R): the IP header
          is outside the skb's linear area at both hooks; measured against
          minimal counters that copy (minl) or pull (minp, minq) it.
  ringin  (on request) ring frames at ingress only, the same frames for
          every configuration: gen -R -Q bypasses the qdisc layer, so no
          egress program on the sending side (ring mode's, which differ
          per configuration, would leave the frames pulled or not) touches
          them; the program under test runs at ib0 ingress only (the
          daemon on ib0 only).  Configurations: minl, minp, nopid (--itm)
          and nopid@before (--itm-before), e.g. two ways of reading the
          headers.
  otherhost  (on request) packet mode to a MAC address that is not the
          receiver's: ingress only, where attribution need not look up.
  deliver (on request) packet mode to destinations local to itmib (a
          local route for 10.80.0.0/16 and fd00:80::/64), so every packet
          reaches the wildcard UDP socket: ingress only.  Its own
          configuration "cgi" measures attribution after the kernel found
          the socket: TC ingress runs the gso rung (per address, no
          lookup) and a cgroup_skb/ingress program (cgi, with the empty
          cge before it) runs on the cgroup v2 that holds the socket.

Every figure is ns per packet = delta run_time_ns / delta run_cnt of that
program over the run.  The statistics themselves add a constant (two clock
reads per run) to every program, the empty one included.

Writes OUT.md (Markdown) and OUT.json.  Namespaces are removed on exit,
also after errors and SIGTERM.
"""
import argparse
import glob
import json
import os
import signal
import statistics
import subprocess
import sys
import time

LADDER = ["empty", "min", "k16", "k24", "v32", "mim", "gso"]
LADDER_DOC = {
    "empty": "empty TC program",
    "min": "minimal counter: 4 B IPv4 / 16 B IPv6 key, {bytes, packets}",
    "k16": "+ one map, 16 B key (IPv4 mapped)",
    "k24": "+ 24 B key (struct itm_key: address, pid, pad)",
    "v32": "+ 32 B value (struct itm_value: tx and rx)",
    "mim": "+ map reached through a one-slot array of maps",
    "gso": "+ read skb->gso_segs/gso_size (skb_shinfo)",
}
# Attribution variants on top of the gso rung (--cfgs only).
ATTR_DOC = {
    "sks": "gso + bpf_sk_storage_get() on skb->sk (egress)",
    "skc": "gso + per-CPU last-socket cache before sks (egress; not exact)",
    "ski": "gso + sks's fast path as plain loads (egress; helper on a "
           "cache-slot miss)",
    "lku": "gso + bpf_sk_lookup_udp() + storage + release (ingress)",
    "tup": "gso + 3 hash lookups: tuple -> pid map (ingress)",
    "cgp": "as cgi, but the cgroup_skb hash is per pid only (deliver mode)",
    "cgi": "TC ingress gso (no lookup) + cgroup_skb/ingress: skb->sk "
           "storage + (address, pid) per-CPU hash (deliver mode)",
}
DELIVER_DST = {4: "10.80.0.0", 6: "fd00:80::"}


def log(*a):
    print("[insitu]", *a, file=sys.stderr, flush=True)


def sh(*argv, check=True, timeout=60):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r.stdout


def ns_exec(ns, *argv):
    # nsenter, not "ip netns exec": the latter remounts /sys, hiding the
    # host's bpffs where the daemon pins its links.
    return ["nsenter", "--net=/run/netns/" + ns] + list(argv)


class Topo:
    def __init__(self):
        tag = os.getpid() % 100000
        self.a, self.b = "itmia%d" % tag, "itmib%d" % tag
        self.aif, self.bif = "ia0", "ib0"

    def setup(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", self.aif, "netns", self.a, "type", "veth",
           "peer", "name", self.bif, "netns", self.b)
        for ns, dev, v4, v6 in ((self.a, self.aif, "10.77.0.1/24",
                                 "fd00:77::1/64"),
                                (self.b, self.bif, "10.77.0.2/24",
                                 "fd00:77::2/64")):
            sh(*ns_exec(ns, "ip", "link", "set", "lo", "up"))
            sh(*ns_exec(ns, "ip", "addr", "add", v4, "dev", dev))
            sh(*ns_exec(ns, "ip", "addr", "add", v6, "dev", dev, "nodad"))
            sh(*ns_exec(ns, "ip", "link", "set", dev, "up"))
        # Socket mode: the destinations are routed to ib0's address, where
        # they are dropped (no forwarding in the test namespace).
        sh(*ns_exec(self.a, "ip", "route", "add", "10.78.0.0/16", "via",
                    "10.77.0.2"))
        sh(*ns_exec(self.a, "ip", "-6", "route", "add", "fd00:78::/64",
                    "via", "fd00:77::2"))
        # Deliver mode: its destinations are local to itmib (AnyIP routes),
        # its sources reach ib0 without a reverse-path check.
        sh(*ns_exec(self.b, "ip", "route", "add", "local", "10.80.0.0/16",
                    "dev", "lo"))
        sh(*ns_exec(self.b, "ip", "-6", "route", "add", "local",
                    "fd00:80::/64", "dev", "lo"))
        for k in ("all", "default", self.bif):
            sh(*ns_exec(self.b, "sysctl", "-qw",
                        "net.ipv4.conf.%s.rp_filter=0" % k))
        self.cgroup = None
        for line in open("/proc/self/mounts"):
            f = line.split()
            if f[2] == "cgroup2":
                self.cgroup = os.path.join(f[1], "itm_insitu_%d" %
                                           os.getpid())
                os.mkdir(self.cgroup)
                break
        link = json.loads(sh(*ns_exec(self.b, "ip", "-j", "link", "show",
                                      self.bif)))
        self.bmac = link[0]["address"]

    def teardown(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)
        if getattr(self, "cgroup", None):
            for _ in range(50):
                try:
                    os.rmdir(self.cgroup)
                    break
                except OSError:
                    time.sleep(0.1)


def prog_stats(pid_):
    j = json.loads(sh("bpftool", "-j", "prog", "show", "id", str(pid_)))
    return j.get("run_time_ns", 0), j.get("run_cnt", 0)


class Attached:
    """insitu_attach in a namespace: programs that stay for the whole run."""

    def __init__(self, tool, ns, dev, point, obj, progs):
        self.p = subprocess.Popen(
            ns_exec(ns, tool, dev, point, obj, *progs),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ids = {}
        for line in self.p.stdout:
            line = line.strip()
            if line == "ready":
                break
            name, pid_ = line.split()
            self.ids[name] = int(pid_)
        if len(self.ids) != len(progs):
            raise RuntimeError("insitu_attach failed on %s %s" % (dev, point))

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Daemon:
    def __init__(self, binary, ns, dev, pin, extra, interval="2"):
        self.pin = pin
        self.p = subprocess.Popen(
            ns_exec(ns, binary, "-i", dev, "-d", "0", "-s", interval,
                    "--quiet", "--no-summary", "--pin-dir", pin) +
            list(extra),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def prog_id(self, which):
        deadline = time.time() + 60
        while time.time() < deadline:
            links = glob.glob(os.path.join(self.pin, "*", "link_" + which))
            if links:
                j = json.loads(sh("bpftool", "-j", "link", "show", "pinned",
                                  links[0]))
                return j["prog_id"]
            if self.p.poll() is not None:
                raise RuntimeError("daemon exited: %s" % self.p.stderr.read())
            time.sleep(0.05)
        raise RuntimeError("daemon did not attach within 60 s")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Listener:
    """UDP sockets on the wildcard address, port 9, in the sink namespace:
    what the ingress socket lookup finds."""

    CODE = ("import os,socket,sys,time\n"
            "cg=sys.argv[1]\n"
            "if cg: open(cg+'/cgroup.procs','w').write(str(os.getpid()))\n"
            "a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "a.bind(('0.0.0.0',9))\n"
            "b=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n"
            "b.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1)\n"
            # gen's UDP checksums are zero: accept them over IPv6.
            "b.setsockopt(socket.IPPROTO_UDP,102,1)\n"
            "b.bind(('::',9))\n"
            "print('ready',flush=True)\n"
            "sys.stdin.read()\n")

    def __init__(self, ns, cgroup):
        # In its own cgroup v2 (when there is one), where deliver mode's
        # cgroup_skb programs are attached.
        self.p = subprocess.Popen(ns_exec(ns, sys.executable, "-c",
                                          self.CODE, cgroup or ""),
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("UDP listener failed")

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=10)


def one_run(args, topo, mode, fam, naddr, cfg):
    """One generator run with the empty program and ONE program under test
    attached (a reference rung, or the daemons): programs attached together
    would evict each other's maps from the cache."""
    pin = "/sys/fs/bpf/itm_insitu_%d" % os.getpid()
    held = []
    try:
        daemon = cfg.split("@")[0] in ("nopid", "pid")
        if daemon:
            progs = ["empty"]
        elif cfg in ("cgi", "cgp"):
            progs = ["empty", "gso"]
        else:
            progs = ["empty", cfg]
        ids_eg = {}
        if mode != "ringin":
            ref_eg = Attached(args.attach, topo.a, topo.aif, "egress",
                              args.obj, [k + "_egress" for k in progs])
            held.append(ref_eg)
            ids_eg = {k: ref_eg.ids[k + "_egress"] for k in progs}
        ref_in = Attached(args.attach, topo.b, topo.bif, "ingress", args.obj,
                          [k + "_ingress" for k in progs])
        held.append(ref_in)
        ids_in = {k: ref_in.ids[k + "_ingress"] for k in progs}
        if cfg in ("cgi", "cgp"):
            if not topo.cgroup:
                raise RuntimeError("%s needs a cgroup v2 mount" % cfg)
            cg = Attached(args.attach, topo.b, topo.cgroup, "cgroup",
                          args.obj, ["cge_ingress", cfg + "_ingress"])
            held.append(cg)
            ids_in["cge"] = cg.ids["cge_ingress"]
            ids_in[cfg] = cg.ids[cfg + "_ingress"]
        if daemon:
            extra = ["--no-pid"] if cfg.startswith("nopid") else []
            binary = args.itm_before if cfg.endswith("@before") else args.itm
            # nopid@s60: a sample interval longer than the run, so the maps
            # are never drained (and addresses never re-inserted) during it.
            interval = cfg.split("@s")[1] if "@s" in cfg else "2"
            da = None
            if mode != "ringin":
                da = Daemon(binary, topo.a, topo.aif, pin + "_a", extra,
                            interval)
                held.append(da)
            db = Daemon(binary, topo.b, topo.bif, pin + "_b", extra,
                        interval)
            held.append(db)
            if da:
                ids_eg[cfg] = da.prog_id("egress")
            ids_in[cfg] = db.prog_id("ingress")
            # The daemon runs its task_file iterator at start: let it end.
            time.sleep(0.3)
        before = {(d, k): prog_stats(v)
                  for d, ids in (("eg", ids_eg), ("in", ids_in))
                  for k, v in ids.items()}
        argv = [args.gen, "-i", topo.aif, "-n", str(args.packets), "-a",
                str(naddr)]
        if fam == 6:
            argv.append("-6")
        if mode == "socket":
            argv.append("-u")
        else:
            argv += ["-S", "-s", "fd00:79::" if fam == 6 else "10.79.0.0"]
            if mode in ("packet", "deliver", "ring", "ringin"):
                argv += ["-m", topo.bmac]
            if mode in ("ring", "ringin"):
                argv.append("-R")
            if mode == "ringin":
                argv.append("-Q")
            if mode == "deliver":
                argv += ["-b", DELIVER_DST[fam]]
        g = sh(*ns_exec(topo.a, *argv), timeout=600)
        gen = dict(kv.split("=") for kv in g.split())
        res = {"mode": mode, "fam": fam, "naddr": naddr, "cfg": cfg,
               "sent": int(gen["sent"]), "pps": float(gen["pps"]),
               "load": float(open("/proc/loadavg").read().split()[0]),
               "ns": {}, "cnt": {}}
        for d, ids in (("eg", ids_eg), ("in", ids_in)):
            for k, v in ids.items():
                t1, c1 = prog_stats(v)
                t0, c0 = before[(d, k)]
                if c1 - c0 > 0:
                    res["ns"]["%s/%s" % (d, k)] = (t1 - t0) / (c1 - c0)
                res["cnt"]["%s/%s" % (d, k)] = c1 - c0
        return res
    finally:
        for h in reversed(held):
            h.stop()
        for p in (pin + "_a", pin + "_b"):
            sh("rm", "-rf", p, check=False)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.0f"):
    return "–" if x is None else spec % x


def deliver_section(w, args, runs, sel, empty):
    """Deliver mode: attribution at TC (the kernel's socket lookup) against
    attribution in cgroup_skb/ingress after the kernel found the socket."""
    def get(fam, naddr, cfg, key):
        return med([r["ns"].get(key) for r in sel("deliver", fam, naddr,
                                                   cfg)])

    def loads(fam, naddr):
        ls = [r["load"] for r in runs
              if (r["mode"], r["fam"], r["naddr"]) == ("deliver", fam, naddr)]
        return "%.2f–%.2f" % (min(ls), max(ls)) if ls else "–"

    w("")
    w("#### Ingress attribution after the socket is found (deliver mode)")
    w("")
    w("Every packet reaches the wildcard UDP socket in itmib. Columns: TC "
      "ingress \"gso\" alone (per address, no attribution); \"lku\" = gso "
      "+ `bpf_sk_lookup_udp` + storage + release at TC; the new variant = "
      "gso at TC **plus** `cgroup_skb/ingress` \"cgi\" (skb->sk storage + "
      "(address, pid) per-CPU hash), its sum, and \"cge\" (an empty "
      "cgroup_skb program: the statistics' own overhead there); the daemon "
      "(itm_ingress --no-pid / with attribution). ns per packet, median of "
      "rounds.")
    w("")
    w("| IP | addresses | load | empty (TC) | gso | lku | lku − gso | "
      "gso in cgi run | cge | cgi | gso + cgi | cgi runs ÷ sent | itm "
      "--no-pid | itm attributed | itm extra | (gso + cgi) ÷ lku | "
      "(gso + cgi) ÷ itm attributed |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      "---:|---:|---:|---:|")
    net = []
    for fam in (4, 6):
        for naddr in args.addrs:
            g = get(fam, naddr, "gso", "in/gso")
            lk = get(fam, naddr, "lku", "in/lku")
            gc = get(fam, naddr, "cgi", "in/gso")
            ce = get(fam, naddr, "cgi", "in/cge")
            ci = get(fam, naddr, "cgi", "in/cgi")
            cruns = sel("deliver", fam, naddr, "cgi")
            # The sum per run, then the median.
            sm = med([r["ns"].get("in/gso", 0) + r["ns"]["in/cgi"]
                      for r in cruns if "in/cgi" in r["ns"]])
            seen = min([r.get("cnt", {}).get("in/cgi", 0) / r["sent"]
                        for r in cruns] or [0])
            n = get(fam, naddr, "nopid", "in/nopid")
            p = get(fam, naddr, "pid", "in/pid")
            e = empty("deliver", fam, naddr, "in")

            def d(a, b):
                return "–" if a is None or b is None else "%+.0f" % (a - b)

            def q(a, b):
                return "–" if a is None or not b else "%.2f×" % (a / b)
            w("| v%d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | "
              "%.3f | %s | %s | %s | %s | %s |" % (
                  fam, naddr, loads(fam, naddr), fmt(e), fmt(g), fmt(lk),
                  d(lk, g), fmt(gc), fmt(ce), fmt(ci), fmt(sm), seen,
                  fmt(n), fmt(p), d(p, n), q(sm, lk), q(sm, p)))
            pe = get(fam, naddr, "cgp", "in/cge")
            pc = get(fam, naddr, "cgp", "in/cgp")
            pn = None if None in (pc, pe) else pc - pe
            if None not in (e, g, lk, gc, ce, ci):
                net.append((fam, naddr, lk - e, g - e, ci - ce,
                            (gc - e) + (ci - ce), pn))
    if not net:
        return
    w("")
    w("The same without the run-time statistics' own overhead (each "
      "program minus the empty program at its hook: TC \"empty\", cgroup "
      "\"cge\"); neither hook's dispatch is in these figures:")
    w("")
    w("| IP | addresses | lku (TC, attributed) | gso (TC, no lookup) | "
      "cgi | gso + cgi | attribution extra now (lku − gso) | attribution "
      "extra, cgroup (cgi) | (gso + cgi) ÷ lku | per-pid only (cgp) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fam, naddr, lk, g, ci, sm, pn in net:
        w("| v%d | %d | %.0f | %.0f | %.0f | %.0f | %+.0f | %+.0f | %.2f× | "
          "%s |" % (fam, naddr, lk, g, ci, sm, lk - g, ci, sm / lk,
                    "–" if pn is None else "%+.0f" % pn))


RING_CFGS = ["minl", "minp", "minq"]
RING_DOC = {
    "minl": "min + the first 54 bytes copied to the stack "
            "(`bpf_skb_load_bytes`): the fair floor",
    "minp": "min + `bpf_skb_pull_data` of those 54 bytes",
    "minq": "min + `bpf_skb_pull_data` of 256 bytes (what itm did before "
            "issue 27)",
}


def ring_section(w, args, cell, empty, ratio):
    """Frames from an AF_PACKET TX ring: headers outside the linear area."""
    w("")
    w("#### Frames whose headers are not in the linear area (AF_PACKET TX "
      "ring, `gen -R`)")
    w("")
    w("The ring's frames reach TC egress (and, through veth, the peer's TC "
      "ingress) with only the Ethernet header in the skb's linear area. "
      "`min` cannot read them in place; the floors below can (ns per "
      "packet):")
    w("")
    for c in RING_CFGS:
        w("- %s: %s" % (c, RING_DOC[c]))
    w("")
    before = ["nopid@before"] if args.itm_before else []
    heads = (["empty"] + RING_CFGS + ["itm --no-pid", "itm with attribution"]
             + ["itm --no-pid before"] * len(before) +
             ["--no-pid ÷ minl", "attribution ÷ minl"] +
             ["before ÷ minl"] * len(before))
    w("| dir | IP | addresses | " + " | ".join(heads) + " |")
    w("|---|---|---:|" + "---:|" * len(heads))
    for d in ("eg", "in"):
        for fam in (4, 6):
            for naddr in args.addrs:
                fl = cell("ring", fam, naddr, "minl", d)
                n = cell("ring", fam, naddr, "nopid", d)
                p = cell("ring", fam, naddr, "pid", d)
                vals = [empty("ring", fam, naddr, d)] + [
                    cell("ring", fam, naddr, c, d) for c in RING_CFGS] + [
                    n, p] + [cell("ring", fam, naddr, c, d) for c in before]
                rat = [ratio(n, fl), ratio(p, fl)] + [
                    ratio(cell("ring", fam, naddr, c, d), fl)
                    for c in before]
                w("| %s | v%d | %d | %s | %s |" % (
                    "egress" if d == "eg" else "ingress", fam, naddr,
                    " | ".join(fmt(v) for v in vals),
                    " | ".join(fmt(r, "%.2f×") for r in rat)))
    w("")
    w("At ingress with attribution the frames are addressed to the "
      "receiver, so itm needs their ports for the socket lookup and pulls "
      "the headers in (the lookup costs more than the pull).")


def ringin_section(w, args, sel, cell, empty, ratio):
    """Ring frames at ingress only, the same shape for every program."""
    def rng(fam, naddr, cfg, den=None):
        v = []
        for r in sel("ringin", fam, naddr, cfg):
            x = r["ns"].get("in/" + cfg)
            if x is None:
                continue
            if den:
                # The same round's floor: runs are appended in order.
                d = [q["ns"].get("in/" + den) for q in
                     sel("ringin", fam, naddr, den)]
                i = sel("ringin", fam, naddr, cfg).index(r)
                if i >= len(d) or not d[i]:
                    continue
                x /= d[i]
            v.append(x)
        spec = "%.2f" if den else "%.0f"
        return "–" if not v else (spec + "–" + spec) % (min(v), max(v))

    itm_b = "nopid@before" if args.itm_before else None
    w("")
    w("#### TC ingress on ring frames, the same frames for every program "
      "(`--modes ringin`)")
    w("")
    w("`gen -R -Q`: AF_PACKET TX ring frames (only the Ethernet header in "
      "the linear area) that bypass the sender's qdisc layer, so no egress "
      "program touches them; the program under test runs at ib0 ingress "
      "only. \"itm\" is `%s` (--no-pid)%s. ns per packet, median of "
      "rounds (min–max); ratios per round." % (
          args.itm, ", \"itm before\" `%s`" % args.itm_before
          if itm_b else ""))
    w("")
    heads = ["empty", "minl", "minp", "itm"] + (["itm before"] if itm_b
                                                else []) + [
        "itm ÷ minl", "(min–max)"] + (["before ÷ minl", "(min–max)"]
                                      if itm_b else [])
    w("| IP | addresses | " + " | ".join(heads) + " |")
    w("|---|---:|" + "---:|" * len(heads))
    for fam in (4, 6):
        for naddr in args.addrs:
            fl = cell("ringin", fam, naddr, "minl", "in")
            vals = [fmt(empty("ringin", fam, naddr, "in"))] + [
                "%s (%s)" % (fmt(cell("ringin", fam, naddr, c, "in")),
                             rng(fam, naddr, c))
                for c in ["minl", "minp", "nopid"] + (
                    [itm_b] if itm_b else [])]
            vals += [fmt(ratio(cell("ringin", fam, naddr, "nopid", "in"),
                               fl), "%.2f×"),
                     rng(fam, naddr, "nopid", "minl")]
            if itm_b:
                vals += [fmt(ratio(cell("ringin", fam, naddr, itm_b, "in"),
                                   fl), "%.2f×"),
                         rng(fam, naddr, itm_b, "minl")]
            w("| v%d | %d | %s |" % (fam, naddr, " | ".join(vals)))


def markdown(args, runs, load):
    out = []
    w = out.append

    def sel(mode, fam, naddr, cfg):
        return [r for r in runs if (r["mode"], r["fam"], r["naddr"],
                                    r["cfg"]) == (mode, fam, naddr, cfg)]

    def cell(mode, fam, naddr, cfg, d):
        return med([r["ns"].get("%s/%s" % (d, cfg))
                    for r in sel(mode, fam, naddr, cfg)])

    def empty(mode, fam, naddr, d):
        return med([r["ns"].get(d + "/empty") for r in runs
                    if (r["mode"], r["fam"], r["naddr"]) ==
                    (mode, fam, naddr)])

    def ratio(a, b):
        return None if a is None or b is None else a / b

    w("### 1a. In situ: ns per packet where the programs run (BPF run-time "
      "statistics, `bench/insitu.py`)")
    w("")
    w("%d packets per run, %d round(s), median of rounds. Each run has the "
      "empty program and one program under test attached (the minimal "
      "counter, a ladder rung, or the two daemons), configurations "
      "interleaved in every round. \"empty\" is the statistics' own "
      "overhead (two clock reads), part of every figure. Load average "
      "(1-min) during the runs: %s." % (args.packets, args.rounds, load))
    rows = []
    for mode, dirs in (("packet", ("eg", "in")), ("socket", ("eg",)),
                       ("otherhost", ("in",))):
        if mode not in args.modes:
            continue
        for d in dirs:
            for fam in (4, 6):
                for naddr in args.addrs:
                    rows.append((mode, d, fam, naddr))
    if rows:
        w("")
        w("| traffic | dir | addresses | empty | minimal counter | itm "
          "--no-pid | itm with attribution | --no-pid ÷ min | attribution "
          "÷ min | attribution extra |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, d, fam, naddr in rows:
        e = empty(mode, fam, naddr, d)
        m = cell(mode, fam, naddr, "min", d)
        n = cell(mode, fam, naddr, "nopid", d)
        p = cell(mode, fam, naddr, "pid", d)
        extra = None if p is None or n is None else p - n
        what = {"packet": "IPv%d frames%s" % (
            fam, ", socket found" if d == "in" else ", no owner"),
            "socket": "IPv%d UDP socket, owner found" % fam,
            "otherhost": "IPv%d frames to another host's MAC" % fam}[mode]
        w("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            what, "egress" if d == "eg" else "ingress", naddr, fmt(e),
            fmt(m), fmt(n), fmt(p), fmt(ratio(n, m), "%.2f×"),
            fmt(ratio(p, m), "%.2f×"),
            "–" if extra is None else "%+.0f ns (%+.0f%%)" % (
                extra, 100.0 * extra / n)))
    if args.itm_before and rows:
        w("")
        w("Before/after: `%s` (before) and `%s` (after), same runs, ns per "
          "packet:" % (args.itm_before, args.itm))
        w("")
        w("| traffic | dir | addresses | --no-pid before | --no-pid after | "
          "attribution before | attribution after | attribution extra "
          "before | after |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for mode, d, fam, naddr in rows:
            nb = cell(mode, fam, naddr, "nopid@before", d)
            na = cell(mode, fam, naddr, "nopid", d)
            pb = cell(mode, fam, naddr, "pid@before", d)
            pa = cell(mode, fam, naddr, "pid", d)
            what = {"packet": "IPv%d frames" % fam,
                    "socket": "IPv%d UDP socket" % fam,
                    "otherhost": "IPv%d frames, another MAC" % fam}[mode]
            w("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
                what, "egress" if d == "eg" else "ingress", naddr, fmt(nb),
                fmt(na), fmt(pb), fmt(pa),
                "–" if pb is None or nb is None else "%+.0f" % (pb - nb),
                "–" if pa is None or na is None else "%+.0f" % (pa - na)))
    if "ring" in args.modes:
        ring_section(w, args, cell, empty, ratio)
    if "ringin" in args.modes:
        ringin_section(w, args, sel, cell, empty, ratio)
    cfgs = sorted({r["cfg"] for r in runs})
    if args.cfgs:
        w("")
        w("#### Every configuration measured (ns per packet, median of "
          "rounds; ± is gso's difference)")
        w("")
        w("| traffic | dir | addresses | empty | " + " | ".join(cfgs) + " |")
        w("|---|---|---:|---:|" + "---:|" * len(cfgs))
        seen = sorted({(r["mode"], d, r["fam"], r["naddr"])
                       for r in runs for d in ("eg", "in")
                       if any(k.startswith(d + "/") for k in r["ns"])})
        for mode, d, fam, naddr in seen:
            base = cell(mode, fam, naddr, "gso", d)
            vals = []
            for c in cfgs:
                v = cell(mode, fam, naddr, c, d)
                if v is not None and base is not None and c != "gso":
                    vals.append("%.0f (%+.0f)" % (v, v - base))
                else:
                    vals.append(fmt(v))
            w("| %s IPv%d | %s | %d | %s | %s |" % (
                mode, fam, "egress" if d == "eg" else "ingress", naddr,
                fmt(empty(mode, fam, naddr, d)), " | ".join(vals)))
        w("")
        for c in cfgs:
            if c in ATTR_DOC:
                w("- %s: %s" % (c, ATTR_DOC[c]))
    if "deliver" in args.modes:
        deliver_section(w, args, runs, sel, empty)
    if "packet" not in args.modes or args.cfgs:
        return "\n".join(out)
    w("")
    w("#### Where the time goes: a ladder from the minimal counter to our "
      "program")
    w("")
    w("Each rung (`bench/insitu.bpf.c`) adds one of our program's costs to "
      "the one before; \"itm\" is our program with --no-pid. Packet mode, "
      "ns per packet.")
    w("")
    w("| dir | IP | addresses | " + " | ".join(LADDER) + " | itm |")
    w("|---|---|---:|" + "---:|" * (len(LADDER) + 1))
    cols = LADDER[1:] + ["nopid"]
    diffs = {(k, n): [] for k in cols for n in args.addrs}
    for d in ("eg", "in"):
        for fam in (4, 6):
            for naddr in args.addrs:
                vals = [empty("packet", fam, naddr, d)] + [
                    cell("packet", fam, naddr, k, d) for k in cols]
                w("| %s | v%d | %d | %s |" % (
                    "egress" if d == "eg" else "ingress", fam, naddr,
                    " | ".join(fmt(v) for v in vals)))
                for i, k in enumerate(cols):
                    if vals[i + 1] is not None and vals[i] is not None:
                        diffs[(k, naddr)].append(vals[i + 1] - vals[i])
    w("")
    w("What each step costs: the difference to the rung before, median over "
      "egress/ingress and IPv4/IPv6 (ns per packet):")
    w("")
    w("| step | what it adds | " + " | ".join(
        "%d addresses" % n for n in args.addrs) + " |")
    w("|---|---|" + "---:|" * len(args.addrs))
    prev = "empty"
    for k in cols:
        doc = LADDER_DOC.get(k, "+ the rest of itm: VLAN loop, IPv6 "
                             "extension headers, pull check, overflow path")
        w("| %s → %s | %s | %s |" % (
            prev, "itm" if k == "nopid" else k, doc,
            " | ".join(fmt(med(diffs[(k, n)]), "%+.1f")
                       for n in args.addrs)))
        prev = k
    w("")
    return "\n".join(out)


def write_results(out, md, runs):
    """The table as OUT.md, the raw runs as OUT.json, the table printed."""
    with open(out + ".md", "w") as f:
        f.write(md + "\n")
    with open(out + ".json", "w") as f:
        json.dump(runs, f, indent=1)
    print(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen")
    ap.add_argument("--itm")
    ap.add_argument("--attach", help="build/bench/insitu_attach")
    ap.add_argument("--obj", help="build/bench/insitu.bpf.o")
    ap.add_argument("--out")
    ap.add_argument("--packets", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--addrs", default="5,10000")
    ap.add_argument("--itm-before", default="",
                    help="another build of the daemon (e.g. the previous "
                    "commit's), measured in the same runs for before/after")
    ap.add_argument("--modes", default="packet,socket,ring",
                    help="packet, socket, ring (packet mode through an "
                    "AF_PACKET TX ring: headers outside the linear area), "
                    "otherhost (packet mode to a MAC "
                    "address that is not the receiver's), deliver (packet "
                    "mode to local destinations: attribution at TC vs in "
                    "cgroup_skb/ingress)")
    ap.add_argument("--cfgs", default="",
                    help="run these configurations instead (comma-"
                    "separated: min, k16, k24, v32, mim, gso, nopid, pid; "
                    "the attribution variants sks, skc, ski (egress), lku, "
                    "tup (ingress), cgi (deliver mode); "
                    "X@before = the --itm-before build, X@sN = the daemon "
                    "with -s N)")
    ap.add_argument("--from-json", default="",
                    help="render the report of an earlier run's OUT.json")
    args = ap.parse_args()
    args.addrs = [int(x) for x in args.addrs.split(",")]
    args.modes = args.modes.split(",")
    if args.from_json:
        runs = json.load(open(args.from_json))
        args.packets = runs[0]["sent"]
        args.modes = sorted({r["mode"] for r in runs})
        args.addrs = sorted({r["naddr"] for r in runs})
        args.rounds = max(sum(1 for q in runs if (q["mode"], q["fam"],
                                                  q["naddr"], q["cfg"]) ==
                              (r["mode"], r["fam"], r["naddr"], r["cfg"]))
                          for r in runs)
        args.itm_before = args.itm_before or (
            "before" if any(r["cfg"].endswith("@before") for r in runs)
            else "")
        loads = [r["load"] for r in runs]
        print(markdown(args, runs, "%.2f–%.2f" % (min(loads), max(loads))))
        return
    if not (args.gen and args.itm and args.attach and args.obj and args.out):
        ap.error("--gen, --itm, --attach, --obj and --out are required")

    topo = Topo()
    stats_before = sh("sysctl", "-n", "kernel.bpf_stats_enabled").strip()
    listener = None

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    runs = []
    try:
        topo.setup()
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        listener = Listener(topo.b, topo.cgroup)
        for rnd in range(args.rounds):
            for mode in args.modes:
                cfgs = LADDER[1:] + ["nopid", "pid"] if mode == "packet" \
                    else ["min", "nopid", "pid"]
                if mode == "deliver":
                    cfgs = ["gso", "lku", "cgi", "cgp", "nopid", "pid"]
                if mode == "ring":
                    cfgs = RING_CFGS + ["nopid", "pid"]
                if mode == "ringin":
                    cfgs = ["minl", "minp", "nopid"]
                if args.itm_before:
                    cfgs += ["nopid@before"] + (
                        ["pid@before"] if mode != "ringin" else [])
                if args.cfgs:
                    cfgs = args.cfgs.split(",")
                # Interleave: a different configuration goes first each round.
                k = rnd % len(cfgs)
                cfgs = cfgs[k:] + cfgs[:k]
                for fam in (4, 6):
                    for naddr in args.addrs:
                        for cfg in cfgs:
                            log("round %d %s IPv%d %d addresses %s" %
                                (rnd + 1, mode, fam, naddr, cfg))
                            runs.append(one_run(args, topo, mode, fam, naddr,
                                                cfg))
    finally:
        if listener:
            listener.stop()
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=" + stats_before,
           check=False)
        topo.teardown()
    loads = [r["load"] for r in runs]
    load = "%.2f–%.2f" % (min(loads), max(loads)) if loads else "?"
    write_results(args.out, markdown(args, runs, load), runs)


if __name__ == "__main__":
    main()
