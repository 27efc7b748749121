#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end comparison: the same traffic, watched by no monitor,
ip_traffic_monitor_cli, iftop -t and pmacctd, one at a time.

Topology (created here, removed on exit even after errors):

    netns itmbg<pid>: gen0 10.77.0.1/24  <== veth ==>  netns itmbs<pid>: sink0

bench/gen (built by scripts/bench.sh) sends a fixed number of IPv4/UDP frames
from gen0, round robin over ADDRS destinations 10.78.0.1 ... , through an
AF_PACKET socket that does not bypass the qdisc layer, so TC egress and the
libpcap taps see every frame.  The frames carry a destination MAC that is not
the sink's, so the sink drops them at once; nothing leaves the two
namespaces.  Every monitor watches gen0, where the traffic is tx.

Per run: extra system-wide CPU time (/proc/stat busy jiffies over the traffic
window plus a settle period, minus the no-monitor run), CPU time of the
generator plus the monitor's process tree (less exposed to other work on
the machine), packets the monitor reports as dropped, and per-destination
byte error against the generator's own per-destination count.

Writes RESULT.json and a Markdown section (RESULT.md).
"""
import argparse
import glob
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SRC = "10.77.0.1"


def log(*a):
    print("[e2e]", *a, file=sys.stderr, flush=True)


def sh(*argv, check=True, timeout=60):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and p.returncode:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                p.stderr.strip()))
    return p


# ---------------------------------------------------------------- topology

class Topo:
    def __init__(self):
        tag = os.getpid() % 100000
        self.gns = "itmbg%d" % tag
        self.sns = "itmbs%d" % tag
        # Unique names: the daemon's per-interface lock is keyed by name only.
        self.gif = "itmbg%d" % tag
        self.sif = "itmbs%d" % tag

    def setup(self):
        for ns in (self.gns, self.sns):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", self.gif, "netns", self.gns, "type", "veth",
           "peer", "name", self.sif, "netns", self.sns)
        sh("ip", "-n", self.gns, "addr", "add", SRC + "/24", "dev", self.gif)
        sh("ip", "-n", self.sns, "addr", "add", "10.77.0.2/24", "dev",
           self.sif)
        for ns, dev in ((self.gns, self.gif), (self.sns, self.sif),
                        (self.gns, "lo"), (self.sns, "lo")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # IPv6 DAD/router solicitations would add foreign packets; none
        # are sent when IPv6 is off on the veth.
        for ns in (self.gns, self.sns):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.all.disable_ipv6=1", check=False)
        time.sleep(0.5)

    def teardown(self):
        for ns in (self.gns, self.sns):
            sh("ip", "netns", "del", ns, check=False)

    def nsenter(self):
        return ["nsenter", "--net=/run/netns/%s" % self.gns]


# ---------------------------------------------------------------- CPU time

def cpu_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is in user)
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def _task_ns(pid):
    """On-CPU nanoseconds of every live thread of pid (schedstat)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def tree_ns(root):
    """On-CPU ns of root's process tree, and of the ksoftirqd threads (they
    finish softirq work, e.g. veth receive, that the sender deferred)."""
    procs, ksoft = {}, set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        procs[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
        if comm.startswith("ksoftirqd/"):
            ksoft.add(int(d))
    tree = set()
    if root is not None:
        tree, grew = {root}, True
        while grew:
            grew = False
            for pid, ppid in procs.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
    return (sum(_task_ns(p) for p in tree), sum(_task_ns(p) for p in ksoft))


def vm_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def stop_proc(p, sig=signal.SIGTERM, timeout=20):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


# ---------------------------------------------------------------- monitors

class NoMonitor:
    name = "none"
    pid = None

    def start(self, expect_s):
        pass

    def collect(self):
        return None, None

    def stop(self):
        pass


class Itm:
    def __init__(self, topo, binary, work, port, extra=()):
        self.topo, self.binary, self.work, self.port = topo, binary, work, port
        self.extra = list(extra)
        self.name = " ".join(["ip_traffic_monitor_cli"] + self.extra)
        self.pin = "/sys/fs/bpf/itm_bench_%d" % os.getpid()
        self.p = None
        self.rss_kib = None
        self.scrape_s = None

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def argv(self, map_size=None):
        a = self.topo.nsenter() + [
            self.binary, "-i", self.topo.gif, "-d", "0", "-s", "2",
            "-p", str(self.port), "-t", "0", "--quiet", "--no-summary",
            "--pin-dir", self.pin] + self.extra
        if map_size:
            a += ["--map-size", str(map_size)]
        return a

    def curl(self, path="/metrics", timeout=60):
        return sh(*self.topo.nsenter(), "curl", "-sf", "-m", str(timeout),
                  "-o", "-", "-w", "\n#time_total %{time_total}\n",
                  "http://127.0.0.1:%d%s" % (self.port, path),
                  check=False, timeout=timeout + 10)

    def start(self, expect_s=None, map_size=None):
        self.err = open(os.path.join(self.work, "itm.err"), "w")
        self.p = subprocess.Popen(self.argv(map_size), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("ip_traffic_monitor_cli exited %d; see %s"
                                   % (self.p.returncode, self.err.name))
            if self.curl(timeout=5).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("ip_traffic_monitor_cli not ready in 60 s")

    def collect(self):
        p = self.curl()
        if p.returncode:
            raise RuntimeError("scrape failed: curl exit %d" % p.returncode)
        per_ip, drops = {}, 0
        pat = re.compile(r'^ip_traffic_(tx|rx)_(bytes|packets)_total\{'
                         r'remote_ip="([^"]+)"[^}]*\} (\d+)$')
        for line in p.stdout.splitlines():
            m = pat.match(line)
            if m and m.group(1) == "tx":
                e = per_ip.setdefault(m.group(3), [0, 0])
                e[0 if m.group(2) == "bytes" else 1] += int(m.group(4))
            elif line.startswith("ip_traffic_overflow_") and \
                    "_packets_total" in line:
                drops += int(line.split()[-1])
            elif line.startswith("#time_total"):
                self.scrape_s = float(line.split()[1])
        self.rss_kib = vm_rss_kib(self.p.pid)
        return per_ip, drops

    def map_memlock(self):
        # IFACE, or IFACE@ns<inode> outside the initial network namespace
        d = [os.path.join(self.pin, x) for x in os.listdir(self.pin)
             if x == self.topo.gif or x.startswith(self.topo.gif + "@")][0]
        total, maps = 0, {}
        for name in sorted(os.listdir(d)):
            if name.startswith("link"):
                continue
            j = json.loads(sh("bpftool", "-j", "map", "show", "pinned",
                              os.path.join(d, name)).stdout)
            maps[name] = j.get("bytes_memlock", 0)
            total += maps[name]
        return total, maps

    def bpf_stats(self):
        """run_time_ns and run_cnt of the daemon's egress program (the
        kernel's BPF run-time statistics, enabled by main())."""
        links = glob.glob(os.path.join(self.pin, "*", "link_egress"))
        if not links:
            return None
        j = json.loads(sh("bpftool", "-j", "link", "show", "pinned",
                          links[0]).stdout)
        p = json.loads(sh("bpftool", "-j", "prog", "show", "id",
                          str(j["prog_id"])).stdout)
        return p.get("run_time_ns", 0), p.get("run_cnt", 0)

    def stop(self):
        if self.p:
            stop_proc(self.p)
            self.err.close()
            self.p = None


class Iftop:
    name = "iftop -t"

    def __init__(self, topo, work, poke):
        self.topo, self.work, self.p, self.poke = topo, work, None, poke

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def start(self, expect_s):
        # Text mode prints one report when -s SECONDS have passed since its
        # start, so SECONDS must cover start-up, traffic and settle time.
        self.secs = int(expect_s) + 4
        self.out = os.path.join(self.work, "iftop.out")
        self.errf = open(os.path.join(self.work, "iftop.err"), "w+")
        self.t0 = time.time()
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.gns, "iftop", "-t", "-n", "-N",
             "-B", "-L", "100000", "-i", self.topo.gif, "-s",
             str(self.secs)],
            stdin=subprocess.DEVNULL, stdout=open(self.out, "w"),
            stderr=self.errf)
        deadline = time.time() + 20
        while time.time() < deadline:
            self.errf.seek(0)
            if "MAC address" in self.errf.read() or self.p.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(1.0)     # pcap handle open and filter set after the banner

    @staticmethod
    def size(s):
        m = re.match(r"^([\d.]+)(B|KB|MB|GB|TB)$", s)
        mult = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3,
                "TB": 1024 ** 4}[m.group(2)]
        return float(m.group(1)) * mult

    def collect(self):
        # iftop checks its -s deadline only when a packet arrives: after
        # the measurement window, poke it with single frames to an address
        # outside the ground truth until it prints and exits.
        deadline = self.t0 + self.secs + 30
        while self.p.poll() is None and time.time() < deadline:
            if time.time() > self.t0 + self.secs:
                self.poke()
            time.sleep(0.3)
        self.late = self.p.poll() is None
        if self.late:
            stop_proc(self.p, signal.SIGKILL)
        per_ip, first = {}, None
        with open(self.out) as f:
            lines = f.read().splitlines()
        for line in lines:
            f = line.split()
            if len(f) >= 6 and f[-5] == "=>":
                first = (f[-6], f[-1])
            elif len(f) >= 6 and f[-5] == "<=" and first:
                a, b = first[0], f[-6]
                if a == SRC:
                    per_ip[b] = [self.size(first[1]), None]
                first = None
        # iftop does not report capture drops.
        return per_ip, None

    def stop(self):
        if self.p:
            stop_proc(self.p, signal.SIGINT)
            self.errf.close()
            self.p = None


class Pmacct:
    name = "pmacctd"

    def __init__(self, topo, work):
        self.topo, self.work, self.p = topo, work, None

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def start(self, expect_s):
        self.csv = os.path.join(self.work, "pmacct.csv")
        self.logf = os.path.join(self.work, "pmacct.log")
        conf = os.path.join(self.work, "pmacct.conf")
        for f in (self.csv,):
            if os.path.exists(f):
                os.unlink(f)
        with open(conf, "w") as f:
            f.write("daemonize: false\n"
                    "pcap_interface: %s\n"
                    "aggregate: dst_host\n"
                    "plugins: print\n"
                    "print_output: csv\n"
                    "print_output_file: %s\n"
                    "print_refresh_time: 3600\n"
                    # pmacct's documented tuning for high packet rates
                    "plugin_pipe_size: 102400000\n"
                    "plugin_buffer_size: 102400\n"
                    % (self.topo.gif, self.csv))
        self.log = open(self.logf, "w+")
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.gns, "pmacctd", "-f", conf],
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            self.log.seek(0)
            if "cache entries" in self.log.read() or \
                    self.p.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(0.5)

    def collect(self):
        # SIGUSR1: the core process logs its pcap statistics.
        self.p.send_signal(signal.SIGUSR1)
        drops, recv = None, None
        deadline = time.time() + 10
        while time.time() < deadline and drops is None:
            time.sleep(0.2)
            self.log.seek(0)
            m = re.search(r"received_packets=(\d+) dropped_packets=(\d+)",
                          self.log.read())
            if m:
                recv, drops = int(m.group(1)), int(m.group(2))
        # SIGINT: the print plugin purges its cache to the CSV and exits.
        stop_proc(self.p, signal.SIGINT, timeout=30)
        per_ip = {}
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(self.csv):
            time.sleep(0.2)
        if os.path.exists(self.csv):
            with open(self.csv) as f:
                for line in f.read().splitlines()[1:]:
                    ip, pk, by = line.split(",")
                    per_ip[ip] = [int(by), int(pk)]
        self.received = recv
        return per_ip, drops

    def stop(self):
        if self.p:
            stop_proc(self.p, signal.SIGINT)
            self.log.close()
            self.p = None


# ---------------------------------------------------------------- one run

def read_truth(path):
    truth = {}
    with open(path) as f:
        for line in f:
            ip, pk, by = line.split()
            truth[ip] = (int(by), int(pk))
    return truth


def accuracy(truth, per_ip):
    abs_err, rel_err, exact_b, exact_bp, missing = [], [], 0, 0, 0
    for ip, (tb, tp) in truth.items():
        got = per_ip.get(ip)
        if got is None:
            missing += 1
            got = [0, None]
        e = abs(got[0] - tb)
        abs_err.append(e)
        rel_err.append(e / tb if tb else 0.0)
        exact_b += e == 0
        exact_bp += e == 0 and got[1] == tp
    extra = len(set(per_ip) - set(truth))
    return {
        "max_abs": max(abs_err), "mean_abs": statistics.mean(abs_err),
        "max_rel": max(rel_err), "mean_rel": statistics.mean(rel_err),
        "exact_bytes": exact_b, "exact_bytes_packets": exact_bp,
        "missing": missing, "extra": extra, "n": len(truth),
        "reported_bytes": sum(v[0] for v in per_ip.values() if v),
        "truth_bytes": sum(v[0] for v in truth.values()),
    }


def one_run(args, topo, mon, n, rate, expect_s, settle):
    truth_path = os.path.join(args.work, "truth.tsv")
    mon.start(expect_s)
    try:
        time.sleep(0.5)
        b0 = mon.bpf_stats() if isinstance(mon, Itm) else None
        c0, t0, w0 = cpu_busy_ticks(), tree_ns(mon.pid), time.time()
        argv = ["ip", "netns", "exec", topo.gns, args.gen, "-i", topo.gif,
                "-n", str(n), "-a", str(args.addrs), "-o", truth_path]
        if rate:
            argv += ["-r", str(rate)]
        g = sh(*argv, timeout=600).stdout
        time.sleep(settle)
        c1, t1, w1 = cpu_busy_ticks(), tree_ns(mon.pid), time.time()
        b1 = mon.bpf_stats() if b0 else None
        per_ip, drops = mon.collect()
    finally:
        mon.stop()
    gen = dict(kv.split("=") for kv in g.split())
    sent = int(gen["sent"])
    r = {
        "tool": mon.name, "rate": rate or "max", "sent": sent,
        "gen_seconds": float(gen["seconds"]), "gen_pps": float(gen["pps"]),
        "send_errors": int(gen["send_errors"]),
        "window_s": w1 - w0,
        "sys_ns_per_pkt": (c1 - c0) * 1e9 / CLK_TCK / sent,
        "attr_ns_per_pkt": ((t1[0] - t0[0] + t1[1] - t0[1]) / 1e9 +
                            float(gen["utime"]) + float(gen["stime"]))
                           * 1e9 / sent,
        "mon_ns_per_pkt": (t1[0] - t0[0]) / sent,
        "ksoftirqd_ns_per_pkt": (t1[1] - t0[1]) / sent,
        "drops": drops,
    }
    if per_ip is not None:
        r["acc"] = accuracy(read_truth(truth_path), per_ip)
    if b0 and b1:
        # In-situ BPF time of our TC program, per packet sent.
        r["bpf_ns_per_pkt"] = (b1[0] - b0[0]) / sent
        r["bpf_runs"] = b1[1] - b0[1]
    if isinstance(mon, Itm):
        r["rss_kib"] = mon.rss_kib
        r["scrape_s"] = mon.scrape_s
    if isinstance(mon, Pmacct):
        r["pcap_received"] = mon.received
    if isinstance(mon, Iftop):
        r["iftop_late"] = mon.late
    log("%-22s rate=%-6s sent=%d gen_pps=%.0f sys=%.0f ns/pkt attr=%.0f "
        "drops=%s %s" % (mon.name, r["rate"], sent, r["gen_pps"],
                         r["sys_ns_per_pkt"], r["attr_ns_per_pkt"], drops,
                         ("max_abs_err=%d mean_rel=%.2e" % (
                             r["acc"]["max_abs"], r["acc"]["mean_rel"]))
                         if "acc" in r else ""))
    return r


# ---------------------------------------------------------------- report

def fmt_ns(x):
    return "%.0f" % x


def fmt_ratio(a, b):
    if b is None or a is None:
        return "n/a"
    if b <= 0:
        return "n/a (ours ≤ 0)"
    return "%.1f×" % (a / b)


def summarize(runs, tools, rates):
    """Median CPU per (tool, rate); worst accuracy and drops over rounds."""
    out = {}
    for rate in rates:
        base_sys = statistics.median(r["sys_ns_per_pkt"] for r in runs
                                     if r["tool"] == "none" and
                                     r["rate"] == rate)
        base_attr = statistics.median(r["attr_ns_per_pkt"] for r in runs
                                      if r["tool"] == "none" and
                                      r["rate"] == rate)
        for t in tools:
            rs = [r for r in runs if r["tool"] == t and r["rate"] == rate]
            s = {
                "rounds": len(rs),
                "gen_pps": statistics.median(r["gen_pps"] for r in rs),
                "sys": statistics.median(r["sys_ns_per_pkt"] for r in rs),
                "attr": statistics.median(r["attr_ns_per_pkt"] for r in rs),
                "mon": statistics.median(r["mon_ns_per_pkt"] for r in rs),
                "sent": rs[0]["sent"],
            }
            bpf = [r["bpf_ns_per_pkt"] for r in rs if "bpf_ns_per_pkt" in r]
            s["bpf"] = statistics.median(bpf) if bpf else None
            s["extra_sys"] = s["sys"] - base_sys
            s["extra_attr"] = s["attr"] - base_attr
            d = [r["drops"] for r in rs if r["drops"] is not None]
            s["drops"] = max(d) if d else None
            accs = [r["acc"] for r in rs if "acc" in r]
            if accs:
                s["acc"] = {
                    "max_abs": max(a["max_abs"] for a in accs),
                    "mean_abs": max(a["mean_abs"] for a in accs),
                    "max_rel": max(a["max_rel"] for a in accs),
                    "mean_rel": max(a["mean_rel"] for a in accs),
                    "exact_bytes": min(a["exact_bytes"] for a in accs),
                    "exact_bytes_packets": min(a["exact_bytes_packets"]
                                               for a in accs),
                    "missing": max(a["missing"] for a in accs),
                    "n": accs[0]["n"],
                }
            out[(t, rate)] = s
    return out


def markdown(args, runs, summ, tools, rates, mapmem):
    L = []
    L.append("### End to end: %d destinations, generator on one veth end, "
             "every monitor on the same end (tx)" % args.addrs)
    L.append("")
    L.append("Median of %d rounds (CPU); worst round (drops, errors). "
             "Extra CPU is system-wide busy time from /proc/stat over the "
             "traffic window + %.1f s settle, minus the no-monitor run, per "
             "packet sent; \"attributed\" counts only the generator process "
             "(where TC and packet-tap work runs, in its sendmmsg() calls), "
             "the ksoftirqd threads and the monitor's process tree "
             "(schedstat, ns resolution), so other work on the machine "
             "disturbs it less."
             % (args.rounds, args.settle))
    L.append("")
    L.append("| rate | monitor | packets | generator pps | extra CPU ns/pkt "
             "(system) | extra CPU ns/pkt (attributed) | monitor process "
             "ns/pkt | × ours (system) | × ours (attributed) | dropped "
             "packets reported | addresses exact (bytes+packets) | max abs "
             "byte error | mean abs byte error | max rel error | mean rel "
             "error |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
             "---:|---:|---:|")
    for rate in rates:
        ours = summ[("ip_traffic_monitor_cli", rate)]
        for t in tools:
            s = summ[(t, rate)]
            a = s.get("acc")
            rl = "max" if rate == "max" else "%d pps" % rate
            if t == "none":
                L.append("| %s | none (baseline %s ns/pkt system, %s "
                         "attributed) | %d | %.0f | 0 | 0 | – | – | – | – | – "
                         "| – | – | – | – |"
                         % (rl, fmt_ns(s["sys"]), fmt_ns(s["attr"]),
                            s["sent"], s["gen_pps"]))
                continue
            if t == "ip_traffic_monitor_cli":
                xs = xa = "1× (reference)"
            else:
                xs = fmt_ratio(s["extra_sys"], ours["extra_sys"])
                xa = fmt_ratio(s["extra_attr"], ours["extra_attr"])
            exact = ("%d/%d" % (a["exact_bytes_packets"], a["n"])
                     if t != "iftop -t" else
                     "%d/%d (bytes only)" % (a["exact_bytes"], a["n"]))
            L.append("| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | "
                     "%s | %d | %.1f | %.2e | %.2e |"
                     % (rl, t, s["sent"], s["gen_pps"],
                        fmt_ns(s["extra_sys"]), fmt_ns(s["extra_attr"]),
                        fmt_ns(s["mon"]), xs, xa,
                        "not reported" if s["drops"] is None
                        else str(s["drops"]),
                        exact, a["max_abs"], a["mean_abs"], a["max_rel"],
                        a["mean_rel"]))
    L.append("")
    ok = all(r["acc"]["exact_bytes_packets"] == r["acc"]["n"] and
             r["acc"]["extra"] == 0 and r["drops"] == 0
             for r in runs if r["tool"].startswith("ip_traffic_monitor_cli"))
    nours = len([r for r in runs if r["tool"].startswith("ip_traffic_monitor_cli")])
    L.append("Ours counted the way issue 14 asks: in-situ BPF time "
             "(`run_time_ns` of our TC program over the window, per packet) "
             "+ the daemon's own CPU, against the best peer's extra CPU "
             "(system-wide and attributed, which include their packet taps "
             "in the kernel):")
    L.append("")
    L.append("| rate | monitor | in-situ BPF ns/pkt | daemon ns/pkt | ours "
             "total ns/pkt | best peer extra (system) | best peer extra "
             "(attributed) | × ours (system) | × ours (attributed) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for rate in rates:
        rl = "max" if rate == "max" else "%d pps" % rate
        peers = [summ[(t, rate)] for t in tools
                 if not t.startswith("ip_traffic_monitor_cli") and t != "none"]
        bs = min((p["extra_sys"] for p in peers), default=None)
        ba = min((p["extra_attr"] for p in peers), default=None)
        for t in tools:
            if not t.startswith("ip_traffic_monitor_cli"):
                continue
            s = summ[(t, rate)]
            if s["bpf"] is None:
                continue
            total = s["bpf"] + s["mon"]
            L.append("| %s | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s |"
                     % (rl, t, s["bpf"], s["mon"], total,
                        "–" if bs is None else fmt_ns(bs),
                        "–" if ba is None else fmt_ns(ba),
                        fmt_ratio(bs, total), fmt_ratio(ba, total)))
    L.append("")
    L.append("**ip_traffic_monitor_cli tx counters equal the ground truth "
             "exactly (bytes and packets, every address, 0 overflow): %s** "
             "(%d of %d runs)." % (
                 "YES" if ok else "NO",
                 sum(1 for r in runs if r["tool"].startswith("ip_traffic_monitor_cli")
                     and r["acc"]["exact_bytes_packets"] == r["acc"]["n"]
                     and r["drops"] == 0), nours))
    L.append("")
    if mapmem:
        L.append("### BPF map memory and daemon RSS by --map-size "
                 "(idle daemon; `bpftool map show` memlock of the pinned "
                 "maps)")
        L.append("")
        L.append("| --map-size | memlock, all maps | per slot | "
                 "itm_stats_a + itm_stats_b | daemon RSS | start-up s |")
        L.append("|---:|---:|---:|---:|---:|---:|")
        for m in mapmem:
            stats = sum(v for k, v in m["maps"].items()
                        if k.startswith("itm_stats"))
            L.append("| %d | %.1f MiB | %.0f B | %.1f MiB | %s | %.2f |" % (
                m["map_size"], m["memlock"] / 2 ** 20,
                m["memlock"] / m["map_size"], stats / 2 ** 20,
                "%.1f MiB" % (m["rss_kib"] / 1024) if m["rss_kib"] else "?",
                m["start_s"]))
        L.append("")
    sc = [r for r in runs if r["tool"].startswith("ip_traffic_monitor_cli")]
    if sc:
        L.append("Daemon after a run (%d addresses tracked): RSS %.1f MiB, "
                 "HTTP scrape of /metrics (drain + render) %.1f ms (median)."
                 % (args.addrs,
                    statistics.median(r["rss_kib"] for r in sc) / 1024,
                    statistics.median(r["scrape_s"] for r in sc) * 1e3))
        L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen", required=True)
    ap.add_argument("--itm", required=True)
    ap.add_argument("--out", required=True, help="output prefix")
    ap.add_argument("--addrs", type=int, default=1000)
    ap.add_argument("--max-packets", type=int, default=2000000)
    ap.add_argument("--mod-packets", type=int, default=500000)
    ap.add_argument("--mod-rate", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--port", type=int, default=19000 + os.getpid() % 1000)
    ap.add_argument("--map-sizes", default="10000,100000,1000000")
    ap.add_argument("--tools", default="none,itm,itm-nopid,iftop,pmacct")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (tool outputs, logs)")
    args = ap.parse_args()
    args.work = tempfile.mkdtemp(prefix="itm-bench-")

    topo = Topo()

    def poke():
        sh("ip", "netns", "exec", topo.gns, args.gen, "-i", topo.gif, "-n",
           "1", "-a", "1", "-b", "10.79.0.0")
    itm = Itm(topo, args.itm, args.work, args.port)
    mons = {"none": NoMonitor(), "itm": itm,
            "itm-nopid": Itm(topo, args.itm, args.work, args.port + 1,
                             ["--no-pid"]), "iftop": Iftop(topo, args.work, poke),
            "pmacct": Pmacct(topo, args.work)}
    order = [mons[t] for t in args.tools.split(",")]
    tools = [m.name for m in order]
    rates = ["max", args.mod_rate]
    runs, mapmem = [], []

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    stats_before = sh("sysctl", "-n", "kernel.bpf_stats_enabled").stdout.strip()
    try:
        topo.setup()
        # Our TC program's in-situ time (restored on exit).
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        # A warm-up no-monitor run sizes iftop's report time for max rate.
        w = one_run(args, topo, NoMonitor(), args.max_packets, 0, 0, 0.2)
        max_expect = 0.5 + 3 * w["gen_seconds"] + args.settle
        mod_expect = 0.5 + args.mod_packets / args.mod_rate + args.settle
        for rnd in range(args.rounds):
            log("round %d/%d" % (rnd + 1, args.rounds))
            for rate, n, exp in (("max", args.max_packets, max_expect),
                                 (args.mod_rate, args.mod_packets,
                                  mod_expect)):
                for m in order:
                    runs.append(one_run(args, topo, m, n,
                                        0 if rate == "max" else rate, exp,
                                        args.settle))
        for ms in [int(x) for x in args.map_sizes.split(",") if x]:
            t0 = time.time()
            itm.start(map_size=ms)
            try:
                st = time.time() - t0
                time.sleep(1)
                total, maps = itm.map_memlock()
                mapmem.append({"map_size": ms, "memlock": total, "maps": maps,
                               "rss_kib": vm_rss_kib(itm.pid),
                               "start_s": st})
                log("map-size %d: memlock %d B" % (ms, total))
            finally:
                itm.stop()
    finally:
        for m in order:
            m.stop()
        itm.stop()
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=" + stats_before,
           check=False)
        topo.teardown()
        # The daemon unpins its own files; the base directory is ours.
        sh("rm", "-rf", itm.pin, check=False)

    summ = summarize(runs, tools, rates)
    md = markdown(args, runs, summ, tools, rates, mapmem)
    with open(args.out + ".json", "w") as f:
        json.dump({"runs": runs, "mapmem": mapmem,
                   "summary": {"%s@%s" % k: v for k, v in summ.items()}},
                  f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(md + "\n")
    if not args.keep:
        sh("rm", "-rf", args.work, check=False)
    print(md)
    ours_exact = all(r["acc"]["exact_bytes_packets"] == r["acc"]["n"] and
                     r["drops"] == 0 for r in runs
                     if r["tool"].startswith("ip_traffic_monitor_cli"))
    return 0 if ours_exact else 1


if __name__ == "__main__":
    sys.exit(main())
