# SPDX-License-Identifier: MIT
"""Helpers for the end-to-end tests of ip_traffic_monitor_cli.

Everything here works inside network namespaces that the tests create:
sockets are opened after a setns() into the test namespace (they stay in
that namespace afterwards), commands run under `ip netns exec` or
`nsenter --net`, and the monitor itself runs under `nsenter --net` so that
it still sees the host's bpffs mount (ip netns exec would remount /sys).
Nothing here adds an address, route or filter to the root namespace.
"""

import contextlib
import ctypes
import http.client
import ipaddress
import json
import os
import pickle
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
NS_PREFIX = "itme2e-"
# Our clsact filters (contract): handle 0x1749, priority 0xc749.
ITM_TC_HANDLE = 0x1749
ITM_TC_PRIO = 0xC749
LOCK_DIR = "/run/ip_traffic_monitor"

_libc = ctypes.CDLL(None, use_errno=True)


def default_bin():
    """$ITM_BIN, else build/ip_traffic_monitor_cli (or build/user/...)."""
    if os.environ.get("ITM_BIN"):
        return os.environ["ITM_BIN"]
    build = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "..", "build")
    for p in ("ip_traffic_monitor_cli", "user/ip_traffic_monitor_cli"):
        if os.access(os.path.join(build, p), os.X_OK):
            return os.path.join(build, p)
    return os.path.join(build, "ip_traffic_monitor_cli")


# ---------------------------------------------------------------- commands

def sh(*argv, check=True, timeout=60, **kw):
    """Run a command; return CompletedProcess with text stdout/stderr."""
    p = subprocess.run(list(argv), capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout: %s\nstderr: %s" %
                           (p.returncode, " ".join(argv), p.stdout, p.stderr))
    return p


def nsx(ns, *argv, **kw):
    """Run a command inside namespace ns (ip netns exec)."""
    return sh("ip", "netns", "exec", ns, *argv, **kw)


@contextlib.contextmanager
def in_netns(ns):
    """Switch the calling thread into network namespace ns for the block."""
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/%s" % ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (ns, os.strerror(e)))
        yield
    finally:
        if _libc.setns(orig, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns back: %s" % os.strerror(e))
        os.close(fd)
        os.close(orig)


def ns_socket(ns, family, type_, proto=0):
    """A socket that lives in namespace ns."""
    with in_netns(ns):
        return socket.socket(family, type_, proto)


def tcp_send_all(ns, src, dst, port, up, timeout=30):
    """From namespace ns, connect src -> dst:port, send up bytes, close
    first and wait for the receiver's FIN (so every byte was taken in)."""
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    c = ns_socket(ns, fam, socket.SOCK_STREAM)
    try:
        c.settimeout(timeout)
        c.bind((src, 0))
        c.connect((dst, port))
        c.sendall(b"t" * up)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
    finally:
        c.close()


def raw_send(ns, dev, frames):
    """Sends whole Ethernet frames out of dev with AF_PACKET: through the
    qdisc layer, so TC egress sees them."""
    s = ns_socket(ns, socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((dev, 0))
        for f in frames:
            assert s.send(f) == len(f)
    finally:
        s.close()


def eth_frame(dst, src, ethertype, payload):
    """An Ethernet II frame: MAC strings "aa:bb:..", the ethertype, payload."""
    return (bytes.fromhex(dst.replace(":", "")) +
            bytes.fromhex(src.replace(":", "")) +
            struct.pack("!H", ethertype) + payload)


PR_SET_NAME = 15


class _Gate:
    """The child's end of Forked(gated=True): wait_go() blocks until the
    parent calls go()."""

    def __init__(self, fd):
        self.fd = fd

    def wait_go(self):
        assert os.read(self.fd, 1) == b"g"


class Forked:
    """Run fn(*args) in a forked child inside namespace ns; .wait() -> result.

    Used for floods (several children send in parallel on all CPUs) and for
    process attribution: name= sets the child's command name before fn
    opens any socket, and the child then closes every inherited descriptor
    so the parent's sockets are never seen as its own.  With gated=True, fn
    gets a gate first argument and waits in gate.wait_go() for go()."""

    def __init__(self, ns, fn, *args, name=None, gated=False):
        r, w = os.pipe()
        gr, self.gw = os.pipe() if gated else (None, None)
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                if name:
                    for fd in map(int, os.listdir("/proc/self/fd")):
                        if fd > 2 and fd not in (w, gr):
                            try:
                                os.close(fd)
                            except OSError:
                                pass
                    _libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
                fd = os.open("/run/netns/%s" % ns, os.O_RDONLY)
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                os.close(fd)
                if gated:
                    args = (_Gate(gr),) + args
                res = ("ok", fn(*args))
            except BaseException as e:  # noqa: B036 - report anything
                res = ("err", repr(e))
                code = 1
            data = pickle.dumps(res)
            with os.fdopen(w, "wb") as f:
                f.write(data)
            os._exit(code)
        os.close(w)
        if gated:
            os.close(gr)
        self.pid = pid
        self.r = r

    def go(self):
        os.write(self.gw, b"g")

    def wait(self, timeout=120):
        chunks = []
        deadline = time.monotonic() + timeout
        os.set_blocking(self.r, False)
        while True:
            try:
                b = os.read(self.r, 65536)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    raise TimeoutError("forked generator timed out")
                time.sleep(0.02)
                continue
            if not b:
                break
            chunks.append(b)
        os.close(self.r)
        if self.gw is not None:
            os.close(self.gw)
        os.waitpid(self.pid, 0)
        status, val = pickle.loads(b"".join(chunks))
        if status != "ok":
            raise RuntimeError("generator failed: %s" % val)
        return val


# ---------------------------------------------------------------- topology

def link_stats(ns, dev):
    """stats64 of dev inside ns: {'tx': {...}, 'rx': {...}}."""
    out = nsx(ns, "ip", "-s", "-j", "link", "show", "dev", dev).stdout
    st = json.loads(out)[0]["stats64"]
    return st


def stats_delta(a, b):
    return {d: {k: b[d][k] - a[d][k] for k in b[d]} for d in ("tx", "rx")}


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def reap_stale_namespaces():
    """Delete namespaces left by an earlier, killed run of this suite."""
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return
    for n in names:
        m = re.match(re.escape(NS_PREFIX) + r"(\d+)-", n)
        if m and not _pid_alive(int(m.group(1))):
            sh("ip", "netns", "del", n, check=False)


_topo_seq = [0]


# IPv6 settings of a test link: no link-local address, no RS, no DAD,
# which keeps the wire quiet.  The MLD reports for the solicited-node
# groups (sent from ::) cannot be avoided, but their repeat, by default up
# to a second later, can come at once: a new link is then quiet about
# 0.07 s after it comes up instead of 1.3 s (measured), and the wait for
# a quiet link can be short.
LINK_QUIET = (("addr_gen_mode", "1"), ("accept_ra", "0"),
              ("router_solicitations", "0"),
              ("mldv1_unsolicited_report_interval", "1"),
              ("mldv2_unsolicited_report_interval", "1"))


def quiet_link(ns, dev, keep_dad=False):
    """Apply LINK_QUIET to dev in ns (and no DAD unless keep_dad), one call."""
    keys = LINK_QUIET + (() if keep_dad else (("dad_transmits", "0"),))
    nsx(ns, "sysctl", "-q", "-w",
        *["net.ipv6.conf.%s.%s=%s" % (dev, k, v) for k, v in keys])


class Topology:
    """Two namespaces joined by a veth pair.

    Monitor side (self.mns, device self.mif): one IPv4 + one IPv6 address.
    Peer side (self.pns, device self.pif): five IPv4 + two IPv6 addresses.
    """

    MON4 = "10.77.0.1"
    MON6 = "fd77::1"
    PEER4 = ["10.77.0.%d" % i for i in range(11, 16)]
    PEER6 = ["fd77::11", "fd77::12"]

    def __init__(self, offload=False, static_neigh=True, extra_peer4=0,
                 mon_netns=None):
        _topo_seq[0] += 1
        tag = "%d-%d" % (os.getpid(), _topo_seq[0])
        self.mns = NS_PREFIX + tag + "-m"
        self.pns = NS_PREFIX + tag + "-p"
        self.mif = "itm0m"
        self.pif = "itm0p"
        self.peer4 = list(self.PEER4) + ["10.77.1.%d" % i
                                         for i in range(1, extra_peer4 + 1)]
        self.peer6 = list(self.PEER6)
        self.offload = offload
        self.static_neigh = static_neigh
        # An existing namespace (a container's) as the monitor side.
        self.mon_netns = mon_netns
        self.created = []

    @property
    def peers(self):
        return self.peer4 + self.peer6

    @property
    def mon_addrs(self):
        return [self.MON4, self.MON6]

    def mon_addr_for(self, peer):
        return self.MON6 if ":" in peer else self.MON4

    def setup(self):
        for ns in (self.pns, self.mns):
            if ns == self.mns and self.mon_netns:
                # Named like ours so that `ip netns del` only unbinds it.
                path = "/run/netns/%s" % ns
                open(path, "w").close()
                self.created.append(ns)
                sh("mount", "--bind", self.mon_netns, path)
                continue
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
        # Created directly inside the namespaces: never visible in the root.
        sh("ip", "link", "add", self.mif, "netns", self.mns, "type", "veth",
           "peer", "name", self.pif, "netns", self.pns)
        for ns, dev in ((self.mns, self.mif), (self.pns, self.pif)):
            quiet_link(ns, dev)
            if not self.offload:
                nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                    "gro", "off")
            nsx(ns, "ip", "link", "set", "lo", "up")
        nsx(self.mns, "ip", "addr", "add", self.MON4 + "/16", "dev", self.mif)
        nsx(self.mns, "ip", "-6", "addr", "add", self.MON6 + "/64", "dev",
            self.mif, "nodad")
        for a in self.peer4:
            nsx(self.pns, "ip", "addr", "add", a + "/16", "dev", self.pif)
        for a in self.peer6:
            nsx(self.pns, "ip", "-6", "addr", "add", a + "/64", "dev",
                self.pif, "nodad")
        self.mmac = self._mac(self.mns, self.mif)
        self.pmac = self._mac(self.pns, self.pif)
        if self.static_neigh:
            for a in self.peers:
                nsx(self.mns, "ip", "neigh", "replace", a, "lladdr",
                    self.pmac, "dev", self.mif, "nud", "permanent")
            for a in self.mon_addrs:
                nsx(self.pns, "ip", "neigh", "replace", a, "lladdr",
                    self.mmac, "dev", self.pif, "nud", "permanent")
        nsx(self.mns, "ip", "link", "set", self.mif, "up")
        nsx(self.pns, "ip", "link", "set", self.pif, "up")
        self.wait_quiet(quiet_for=0.5)
        return self

    def instance(self, dev=None):
        """The daemon's per-interface instance name, used for its pin
        directory and lock: IFACE@ns<netns inode> outside the initial
        namespace (interface names are only unique per namespace)."""
        ino = os.stat("/run/netns/%s" % self.mns).st_ino
        return "%s@ns%d" % (dev or self.mif, ino)

    def add_pair(self, mif, pif, mon4, peer4):
        """A second veth pair between the same namespaces (offloads off,
        static neighbours), for multi-interface runs."""
        sh("ip", "link", "add", mif, "netns", self.mns, "type", "veth",
           "peer", "name", pif, "netns", self.pns)
        for ns, dev in ((self.mns, mif), (self.pns, pif)):
            quiet_link(ns, dev, keep_dad=True)
            nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                "gro", "off")
        nsx(self.mns, "ip", "addr", "add", mon4 + "/24", "dev", mif)
        nsx(self.pns, "ip", "addr", "add", peer4 + "/24", "dev", pif)
        mmac, pmac = self._mac(self.mns, mif), self._mac(self.pns, pif)
        nsx(self.mns, "ip", "neigh", "replace", peer4, "lladdr", pmac, "dev",
            mif, "nud", "permanent")
        nsx(self.pns, "ip", "neigh", "replace", mon4, "lladdr", mmac, "dev",
            pif, "nud", "permanent")
        nsx(self.mns, "ip", "link", "set", mif, "up")
        nsx(self.pns, "ip", "link", "set", pif, "up")

    def _mac(self, ns, dev):
        return json.loads(nsx(ns, "ip", "-j", "link", "show", "dev",
                              dev).stdout)[0]["address"]

    def wait_quiet(self, quiet_for=1.2, timeout=15):
        """Wait until neither end has sent a frame for quiet_for seconds
        (MLD reports after the IPv6 addresses came up, etc.)."""
        deadline = time.monotonic() + timeout
        last = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            cur = (link_stats(self.mns, self.mif)["tx"]["packets"],
                   link_stats(self.pns, self.pif)["tx"]["packets"])
            if cur != last:
                last = cur
                since = time.monotonic()
            elif time.monotonic() - since >= quiet_for:
                return
            time.sleep(0.1)
        raise RuntimeError("test link never became quiet")

    def teardown(self):
        if self.mon_netns and self.mns in self.created:
            # The namespace outlives us: remove our pair now (deleting the
            # peer namespace would, but only asynchronously).
            sh("ip", "-n", self.mns, "link", "del", self.mif, check=False)
        for ns in self.created:
            sh("ip", "netns", "del", ns, check=False)
        self.created = []

    # ---- inspection of what is attached to the monitored device
    def tc_filters(self, ns=None, dev=None):
        """Text of `tc filter show` for ingress and egress."""
        ns = ns or self.mns
        dev = dev or self.mif
        out = ""
        for d in ("ingress", "egress"):
            p = nsx(ns, "tc", "filter", "show", "dev", dev, d, check=False)
            out += p.stdout
        return out

    def tcx_programs(self, ns=None, dev=None):
        """{'ingress': [prog ids], 'egress': [...]} attached with tcx."""
        ns = ns or self.mns
        dev = dev or self.mif
        with in_netns(ns):
            ifindex = socket.if_nametoindex(dev)
            return {"ingress": bpf_prog_query(ifindex, BPF_TCX_INGRESS),
                    "egress": bpf_prog_query(ifindex, BPF_TCX_EGRESS)}

    def bpf_net(self, ns=None, dev=None):
        """`bpftool net show dev` (tc filters and tcx links) as JSON."""
        ns = ns or self.mns
        dev = dev or self.mif
        p = sh("nsenter", "--net=/run/netns/%s" % ns, "bpftool", "-j", "net",
               "show", "dev", dev)
        return json.loads(p.stdout)

    def attached_programs(self, ns=None, dev=None):
        """(kind, hook, name-or-id) of every BPF program at dev's tc hooks:
        clsact filters (bpftool net) and tcx attachments (BPF_PROG_QUERY;
        Debian 12's bpftool 7.1 does not list tcx)."""
        res = []
        for ent in self.bpf_net(ns, dev):
            for f in ent.get("tc", []) or []:
                res.append(("tc", f.get("kind"), f.get("name")))
        for hook, ids in self.tcx_programs(ns, dev).items():
            for i in ids:
                res.append(("tcx", hook, i))
        return res


# ---------------------------------------------------------------- bpf(2)

BPF_PROG_QUERY = 16
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361,
           "s390x": 351}.get(os.uname().machine, 321)


def bpf_prog_query(ifindex, attach_type, max_progs=64):
    """Program ids attached to ifindex at attach_type (tcx hooks)."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("IIII", attr, 0, ifindex, attach_type, 0, 0)
    struct.pack_into("Q", attr, 16, ctypes.addressof(ids))
    struct.pack_into("I", attr, 24, max_progs)
    _libc.syscall.restype = ctypes.c_long
    r = _libc.syscall(ctypes.c_long(_NR_BPF), ctypes.c_int(BPF_PROG_QUERY),
                      attr, ctypes.c_uint(64))
    if r != 0:
        e = ctypes.get_errno()
        if e == 2:  # ENOENT: nothing attached
            return []
        if e == 22 and attach_type in (BPF_TCX_INGRESS, BPF_TCX_EGRESS):
            return []  # EINVAL: a kernel without tcx (Linux < 6.6)
        raise OSError(e, "BPF_PROG_QUERY: %s" % os.strerror(e))
    cnt = struct.unpack_from("I", attr, 24)[0]
    return [ids[i] for i in range(min(cnt, max_progs))]


def kernel_features(binary, ns):
    """{feature: (variant, state)} as `check --json` finds the running
    kernel: what the loader will take, so tests follow its ladder."""
    p = sh("nsenter", "--net=/run/netns/%s" % ns, binary, "check", "--json",
           timeout=120)
    return {f["feature"]: (f["variant"], f["state"])
            for f in json.loads(p.stdout)["features"]}


# ---------------------------------------------------------------- metrics

_SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')


def _parse_labels(s):
    labels = {}
    i = 0
    n = len(s)
    while i < n:
        while i < n and s[i] in " ,":
            i += 1
        if i >= n:
            break
        j = s.index("=", i)
        key = s[i:j].strip()
        assert s[j + 1] == '"', "bad label syntax: %r" % s
        k = j + 2
        val = []
        while s[k] != '"':
            if s[k] == "\\":
                nxt = s[k + 1]
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt,
                                                               "\\" + nxt))
                k += 2
            else:
                val.append(s[k])
                k += 1
        labels[key] = "".join(val)
        i = k + 1
    return labels


class Metrics:
    def __init__(self, text):
        self.text = text
        self.samples = []  # (name, labels, value)
        self.types = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3].strip()
                continue
            m = _SAMPLE_RE.match(line)
            assert m, "unparsable metrics line: %r" % line
            labels = _parse_labels(m.group(3)) if m.group(3) else {}
            self.samples.append((m.group(1), labels, float(m.group(4))))

    def names(self):
        return {s[0] for s in self.samples}

    def all(self, name):
        return [(lab, v) for n, lab, v in self.samples if n == name]

    def value(self, name, **labels):
        """Value of the one sample of name matching labels, or None."""
        hits = [v for lab, v in self.all(name)
                if all(lab.get(k) == v2 for k, v2 in labels.items())]
        assert len(hits) <= 1, "%s%r matched %d samples" % (name, labels,
                                                            len(hits))
        return hits[0] if hits else None

    def exact(self, name, **labels):
        """Like value() but an integer; a missing sample reads as 0."""
        v = self.value(name, **labels)
        if v is None:
            return 0
        assert v == int(v), "%s is not an integer: %r" % (name, v)
        return int(v)

    def per_ip(self):
        """{remote_ip: {'tx_bytes':..,'tx_packets':..,'rx_bytes':..,
        'rx_packets':..}} from the per-address families."""
        res = {}
        for d in ("tx", "rx"):
            for u in ("bytes", "packets"):
                for lab, v in self.all("ip_traffic_%s_%s_total" % (d, u)):
                    ip = lab["remote_ip"]
                    e = res.setdefault(ip, {"tx_bytes": 0, "tx_packets": 0,
                                            "rx_bytes": 0, "rx_packets": 0})
                    assert v == int(v)
                    e["%s_%s" % (d, u)] = int(v)
        return res

    def totals(self, family):
        """Sum over labels of ip_traffic_<family>_{tx,rx}_{bytes,packets}_total
        (family 'all', 'overflow', 'non_ip', 'malformed')."""
        res = {}
        for d in ("tx", "rx"):
            for u in ("bytes", "packets"):
                vals = self.all("ip_traffic_%s_%s_%s_total" % (family, d, u))
                res["%s_%s" % (d, u)] = int(sum(v for _, v in vals))
        return res


def http_request(ns, port, method="GET", path="/metrics", host="127.0.0.1",
                 timeout=10, src=None):
    """(status, headers dict lower-cased, body bytes) from inside ns,
    from address src if given."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = ns_socket(ns, fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = s
        conn.request(method, path)
        r = conn.getresponse()
        body = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        return r.status, hdrs, body
    finally:
        s.close()


# ---------------------------------------------------------------- monitor

class Monitor:
    """One ip_traffic_monitor_cli process inside the monitor namespace."""

    def __init__(self, binary, topo, pin_base, args=(), port=9877,
                 ifaces=None, tmpdir="/tmp", netns_exec=False):
        self.binary = binary
        self.topo = topo
        self.ns = topo.mns
        self.port = port
        self.pin_base = pin_base
        self.ifaces = ifaces or [topo.mif]
        self.args = list(args)
        self.proc = None
        self.tmpdir = tmpdir
        self.start_time = None
        # ip netns exec instead of nsenter: a private mount namespace with
        # a fresh /sys (no bpffs, no cgroup v2 hierarchy in view).
        self.netns_exec = netns_exec

    def argv(self):
        a = [self.binary]
        for i in self.ifaces:
            a += ["-i", i]
        if self.port:
            a += ["-p", str(self.port)]
        a += ["--pin-dir", self.pin_base]
        return a + self.args

    def start(self, wait=True, timeout=30):
        self.out_path = os.path.join(self.tmpdir, "itm-%d-%d.out" % (
            os.getpid(), id(self)))
        self.err_path = self.out_path[:-4] + ".err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.instances = [self.topo.instance(d) for i in self.ifaces
                          for d in i.split(",")]
        self.start_time = time.monotonic()
        launcher = (["ip", "netns", "exec", self.ns] if self.netns_exec
                    else ["nsenter", "--net=/run/netns/%s" % self.ns])
        self.proc = subprocess.Popen(
            launcher + self.argv(),
            stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("monitor exited with %d before ready: %s" %
                                   (self.proc.returncode, self.stderr()))
            try:
                st, _, _ = http_request(self.ns, self.port, timeout=2)
                if st == 200:
                    return
                err = "status %d" % st
            except OSError as e:
                err = e
            time.sleep(0.1)
        raise TimeoutError("monitor not ready after %ss (%s): %s" %
                           (timeout, err, self.stderr()))

    def scrape_text(self):
        st, hdrs, body = http_request(self.ns, self.port)
        assert st == 200, "scrape status %d" % st
        return body.decode("utf-8")

    def scrape(self):
        return Metrics(self.scrape_text())

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send sig, wait; return exit status (SIGKILL after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TimeoutError("monitor ignored signal %d for %ss" %
                                   (sig, timeout))
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def _read(self, p):
        try:
            with open(p, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    def stdout(self):
        self._out.flush()
        return self._read(self.out_path)

    def stderr(self):
        return self._read(getattr(self, "err_path", ""))

    def close(self):
        self.kill()
        # The daemon keeps its (unlocked) lock files; ours are named after
        # a namespace that is about to disappear, so remove them.
        for inst in getattr(self, "instances", []):
            p = os.path.join(LOCK_DIR, inst + ".lock")
            if os.path.exists(p):
                os.unlink(p)
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f:
                f.close()
        for p in (getattr(self, "out_path", None),
                  getattr(self, "err_path", None)):
            if p and os.path.exists(p):
                os.unlink(p)


# ---------------------------------------------------------------- bpffs

def bpffs_root():
    """Mount point of a bpffs, mounting one at /sys/fs/bpf when absent."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "bpf":
                return parts[4]
    sh("mount", "-t", "bpf", "bpf", "/sys/fs/bpf")
    return "/sys/fs/bpf"


def remove_tree(path):
    """rm -r on a bpffs directory (pins unlink like files)."""
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- traffic

class Sinks:
    """UDP sockets bound to addr:port in a namespace, never read: they only
    exist so that no ICMP port-unreachable is sent back."""

    def __init__(self, ns, addrs, port, rcvbuf=None):
        self.socks = []
        for a in addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            s = ns_socket(ns, fam, socket.SOCK_DGRAM)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.bind((a, port))
            self.socks.append(s)

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


def ip_overhead(addr, l4=8):
    return l4 + (40 if ":" in addr else 20)


def udp_send(ns, src, dst, port, sizes):
    """Send one datagram per payload size from src to dst:port.
    Returns (ip_bytes, packets) actually handed to the stack."""
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = ns_socket(ns, fam, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        b = p = 0
        for n in sizes:
            sent = s.sendto(b"x" * n, (dst, port))
            assert sent == n
            b += n + ip_overhead(dst)
            p += 1
        return b, p
    finally:
        s.close()


def flood_udp(src, dst, port, size, seconds):
    """Runs in a forked child already inside the right namespace."""
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, 0))
    payload = b"f" * size
    n = 0
    end = time.monotonic() + seconds
    target = (dst, port)
    while True:
        for _ in range(256):
            # A successful sendto() means the datagram reached the device's
            # TC egress hook (veth has no qdisc); errors propagate.
            s.sendto(payload, target)
            n += 1
        if time.monotonic() >= end:
            break
    s.close()
    return n


class TcpPeer:
    """A TCP exchange: server in one namespace, client in the other.

    The client sends `up` bytes, the server answers with `down` bytes, then
    both sides close; run() returns when both sockets are closed."""

    def __init__(self, srv_ns, srv_addr, cli_ns, cli_addr, port, up, down):
        fam = socket.AF_INET6 if ":" in srv_addr else socket.AF_INET
        self.ls = ns_socket(srv_ns, fam, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((srv_addr, port))
        self.ls.listen(4)
        self.cs = ns_socket(cli_ns, fam, socket.SOCK_STREAM)
        self.cs.bind((cli_addr, 0))
        self.srv = (srv_addr, port)
        self.up = up
        self.down = down
        self.error = None

    def _server(self):
        try:
            self.ls.settimeout(20)
            c, _ = self.ls.accept()
            c.settimeout(20)
            got = 0
            while got < self.up:
                b = c.recv(65536)
                if not b:
                    break
                got += len(b)
            assert got == self.up, "server got %d of %d" % (got, self.up)
            c.sendall(b"d" * self.down)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
            c.close()
        except BaseException as e:  # noqa: B036
            self.error = e
        finally:
            self.ls.close()

    def run(self):
        t = threading.Thread(target=self._server)
        t.start()
        try:
            self.cs.settimeout(20)
            self.cs.connect(self.srv)
            self.cs.sendall(b"u" * self.up)
            got = 0
            while True:
                b = self.cs.recv(65536)
                if not b:
                    break
                got += len(b)
            assert got == self.down, "client got %d of %d" % (got, self.down)
            self.cs.shutdown(socket.SHUT_WR)
            self.cs.close()
        finally:
            t.join(30)
        if self.error:
            raise self.error


# ---------------------------------------------------------------- capture

class Capture:
    """tcpdump -w on a device inside a namespace."""

    def __init__(self, ns, dev, path):
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-U",
             "-s", "200", "-B", "16384", "--immediate-mode", "-w", path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # tcpdump says "listening on ..." once the capture is live.
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("tcpdump did not start: %r" % line)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        err = self.proc.stderr.read()
        self.proc.wait(20)
        m = re.search(r"(\d+) packets? dropped by kernel", err)
        assert m, "no tcpdump drop report: %r" % err
        assert int(m.group(1)) == 0, "tcpdump dropped packets: %s" % err
        return err


def iter_frames(path, local_macs):
    """(direction, frame bytes, original length) of every frame in an
    Ethernet pcap; direction 'tx' when the source MAC is a local one."""
    local = {bytes.fromhex(m.replace(":", "")) for m in local_macs}
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a pcap file")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    assert linktype == 1, "expected Ethernet pcap, got linktype %d" % linktype
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, origlen = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        yield ("tx" if pkt[6:12] in local else "rx"), pkt, origlen


def parse_pcap(path, local_macs):
    """Sum IP-layer bytes per (direction, remote address, protocol) from an
    Ethernet pcap; direction 'tx' when the source MAC is one of local_macs.

    Returns (ip, non_ip): ip[(dir, remote, proto)] = [bytes, packets]
    (proto "frag" for IP fragments),
    non_ip[dir] = [frame_bytes, packets]."""
    ip = {}
    non_ip = {"tx": [0, 0], "rx": [0, 0]}
    for d, pkt, origlen in iter_frames(path, local_macs):
        et = struct.unpack("!H", pkt[12:14])[0]
        l3 = pkt[14:]
        if et == 0x0800:
            tot = struct.unpack("!H", l3[2:4])[0]
            proto = l3[9]
            if struct.unpack("!H", l3[6:8])[0] & 0x3FFF:  # MF or offset
                proto = "frag"
            src = str(ipaddress.IPv4Address(l3[12:16]))
            dst = str(ipaddress.IPv4Address(l3[16:20]))
        elif et == 0x86DD:
            tot = 40 + struct.unpack("!H", l3[4:6])[0]
            proto = l3[6]
            if proto == 44:
                proto = "frag"
            src = str(ipaddress.IPv6Address(l3[8:24]))
            dst = str(ipaddress.IPv6Address(l3[24:40]))
        else:
            non_ip[d][0] += origlen
            non_ip[d][1] += 1
            continue
        remote = dst if d == "tx" else src
        e2 = ip.setdefault((d, remote, proto), [0, 0])
        e2[0] += tot
        e2[1] += 1
    return ip, non_ip


def empty_counts():
    return {"tx_bytes": 0, "tx_packets": 0, "rx_bytes": 0, "rx_packets": 0}


def add_counts(table, remote, direction, nbytes, npackets):
    e = table.setdefault(remote, empty_counts())
    e[direction + "_bytes"] += nbytes
    e[direction + "_packets"] += npackets


def merge_counts(*tables):
    """One per-address table holding the sum of the given ones."""
    out = {}
    for tb in tables:
        for remote, c in tb.items():
            e = out.setdefault(remote, empty_counts())
            for k in e:
                e[k] += c[k]
    return out


def rss_kib(pid):
    """VmRSS of pid, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def sum_counts(table):
    tot = empty_counts()
    for e in table.values():
        for k in tot:
            tot[k] += e[k]
    return tot


def recreate_veth(t):
    """After `ip link del` of t.mif: the same veth pair, names and first
    addresses, in the same namespaces (interfaces that come and go)."""
    sh("ip", "link", "add", t.mif, "netns", t.mns, "type", "veth",
       "peer", "name", t.pif, "netns", t.pns)
    for ns, dev in ((t.mns, t.mif), (t.pns, t.pif)):
        for key, val in (("addr_gen_mode", "1"), ("accept_ra", "0"),
                         ("router_solicitations", "0"),
                         ("dad_transmits", "0")):
            nsx(ns, "sysctl", "-q", "-w",
                "net.ipv6.conf.%s.%s=%s" % (dev, key, val))
        nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
            "off")
    nsx(t.mns, "ip", "addr", "add", t.MON4 + "/16", "dev", t.mif)
    nsx(t.pns, "ip", "addr", "add", t.peer4[0] + "/16", "dev", t.pif)
    t.mmac = t._mac(t.mns, t.mif)
    t.pmac = t._mac(t.pns, t.pif)
    nsx(t.mns, "ip", "neigh", "replace", t.peer4[0], "lladdr", t.pmac,
        "dev", t.mif, "nud", "permanent")
    nsx(t.pns, "ip", "neigh", "replace", t.MON4, "lladdr", t.mmac,
        "dev", t.pif, "nud", "permanent")
    nsx(t.mns, "ip", "link", "set", t.mif, "up")
    nsx(t.pns, "ip", "link", "set", t.pif, "up")
