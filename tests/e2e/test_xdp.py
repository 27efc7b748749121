# SPDX-License-Identifier: MIT
"""--xdp: received frames counted at XDP (native mode on veth), into the
same maps as the TC programs, with the TC path's byte definition.

Two veth pairs between the same namespaces: itm0m watched by a monitor
with --xdp, itm1m by one counting at TC ingress.  The peer writes the same
IP packets into both (raw AF_PACKET frames: IPv4 with options, Ethernet
padding and fragments, IPv6 with extension headers and fragments, 802.1Q
and 802.1ad tags, jumbo frames at MTU 9000 that XDP sees as multi-buffer
frames, non-IP and malformed frames).  Ground truth: the generator's own
sums; both monitors must equal it, and so each other, frame for frame.
Then a --keep-attached restart (frames sent while no monitor runs are
counted by the next one), `detach`, another XDP program on the hook
(refused, exit 2, left alone), and the generic-mode fallback.

Process attribution under --xdp (XDP counts under pid 0, TC ingress moves
what it attributes to a process): against the twin TC monitor and the
peers' captures, with GRO on; and through --keep-attached --db restarts
under traffic."""

import json
import os
import random
import socket
import struct
import subprocess
import threading
import time

import itm_e2e as e2e

JUMBO_MTU = 9000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(src, dst, payload, proto=17, frag=0, options=b""):
    ihl = 5 + len(options) // 4
    tot = ihl * 4 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 0x1234, frag, 64,
                    proto, 0, bytes(map(int, src.split("."))),
                    bytes(map(int, dst.split(".")))) + options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, payload, nexthdr=17, ext=b""):
    return (struct.pack("!IHBB", 0x60000000, len(ext) + len(payload),
                        nexthdr, 64) +
            socket.inet_pton(socket.AF_INET6, src) +
            socket.inet_pton(socket.AF_INET6, dst) + ext + payload)


def udp(n):
    return struct.pack("!HHHH", 40000, 9, 8 + n, 0) + b"u" * n


def vlan(tpid, vid, ethertype):
    return struct.pack("!HHH", tpid, vid, ethertype)


def generator(jumbo):
    """(l2 after the MACs, counted as) for every frame the peer writes:
    ("ip", source, IP bytes) or ("non_ip" | "malformed", frame bytes)."""
    src4, src6 = "10.77.50.1", "fd77::50:1"
    dst4, dst6 = "10.77.99.99", "fd77::99:99"  # nobody's: dropped, no reply
    out = []

    def ip4(src, payload, **kw):
        p = ipv4(src, dst4, payload, **kw)
        out.append((struct.pack("!H", 0x0800) + p, ("ip", src, len(p))))

    def ip6(src, payload, **kw):
        p = ipv6(src, dst6, payload, **kw)
        out.append((struct.pack("!H", 0x86DD) + p, ("ip", src, len(p))))

    for n in (18, 200, 1400):
        ip4(src4, udp(n))
        ip6(src6, udp(n))
    # 28 IP bytes in a 60-byte frame: the padding is not IP bytes.
    p = ipv4("10.77.50.2", dst4, udp(0))
    out.append((struct.pack("!H", 0x0800) + p + bytes(60 - 14 - len(p)),
                ("ip", "10.77.50.2", len(p))))
    ip4("10.77.50.3", udp(40), options=b"\x01\x01\x01\x00")  # NOP NOP NOP EOL
    # Fragments: first (MF, offset 0), middle and last (offset only).
    ip4("10.77.50.4", udp(992), frag=0x2000)
    ip4("10.77.50.4", b"m" * 1000, frag=0x2000 | 125)
    ip4("10.77.50.4", b"l" * 300, frag=250)
    # IPv6: hop-by-hop + destination options, then fragments.
    hbh = bytes([60, 0]) + bytes([1, 4, 0, 0, 0, 0])   # next: dest opts
    dst = bytes([17, 0]) + bytes([1, 4, 0, 0, 0, 0])   # next: UDP
    ip6("fd77::50:2", udp(64), nexthdr=0, ext=hbh + dst)
    ip6("fd77::50:3", udp(900), nexthdr=44,
        ext=struct.pack("!BBHI", 17, 0, 0x0001, 7))       # first, M
    ip6("fd77::50:3", b"f" * 400, nexthdr=44,
        ext=struct.pack("!BBHI", 17, 0, 114 << 3, 7))     # offset 912
    # 802.1Q and 802.1ad + 802.1Q tags in front of IP.
    p = ipv4("10.77.50.5", dst4, udp(100))
    out.append((vlan(0x8100, 7, 0x0800) + p, ("ip", "10.77.50.5", len(p))))
    p = ipv4("10.77.50.5", dst4, udp(300))
    out.append((vlan(0x88A8, 8, 0x8100) + struct.pack("!HH", 9, 0x0800) + p,
                ("ip", "10.77.50.5", len(p))))
    p = ipv6("fd77::50:4", dst6, udp(500))
    out.append((vlan(0x8100, 7, 0x86DD) + p, ("ip", "fd77::50:4", len(p))))
    if jumbo:
        ip4("10.77.50.6", udp(8000))
        ip6("fd77::50:5", udp(8900))
        ip4("10.77.50.6", udp(JUMBO_MTU - 28))  # a full 9000-byte packet
    # Not IP: ARP, LLDP, a local experimental ethertype.
    out.append((struct.pack("!H", 0x0806) + bytes(28), ("non_ip", 42)))
    out.append((struct.pack("!H", 0x88CC) + bytes(100), ("non_ip", 114)))
    out.append((struct.pack("!H", 0x88B5) + bytes(1000), ("non_ip", 1014)))
    # IP ethertype, broken header: cut short, IHL below 5, wrong version.
    out.append((struct.pack("!H", 0x0800) + b"\x45" + bytes(9),
                ("malformed", 24)))
    out.append((struct.pack("!H", 0x0800) + b"\x44" + bytes(39),
                ("malformed", 54)))
    out.append((struct.pack("!H", 0x86DD) + b"\x60" + bytes(19),
                ("malformed", 34)))
    out.append((struct.pack("!H", 0x86DD) + b"\x40" + bytes(59),
                ("malformed", 74)))
    return out


def truth(gen, rounds=1):
    per_ip, other = {}, {"non_ip": [0, 0], "malformed": [0, 0]}
    for _, what in gen:
        if what[0] == "ip":
            e = per_ip.setdefault(what[1], [0, 0])
            e[0] += what[2] * rounds
            e[1] += rounds
        else:
            other[what[0]][0] += what[1] * rounds
            other[what[0]][1] += rounds
    return per_ip, other


def rx_view(m):
    """What a monitor counted on receive: per address and the others."""
    per_ip = {ip: [c["rx_bytes"], c["rx_packets"]]
              for ip, c in m.per_ip().items() if c["rx_packets"]}
    other = {}
    for fam in ("non_ip", "malformed"):
        t = m.totals(fam)
        other[fam] = [t["rx_bytes"], t["rx_packets"]]
    return per_ip, other


_macs = {}


def send(t, gen, pairs):
    for mif, pif in pairs:
        key = (t.mns, mif, pif)
        if key not in _macs:
            _macs[key] = e2e.eth_frame(t._mac(t.mns, mif), t._mac(t.pns, pif),
                                       0, b"")[:12]
        e2e.raw_send(t.pns, pif, [_macs[key] + l2 for l2, _ in gen])


def settle(mon, want, timeout=20, part=None):
    """Scrape until the rx view (or its part: 0 per address, 1 the
    counters) equals want's (a drain may be late on a loaded machine),
    then return the last one for the assertion."""
    deadline = time.monotonic() + timeout
    while True:
        got = rx_view(mon.scrape())
        if part is not None:
            got, want_p = got[part], want[part]
        else:
            want_p = want
        if got == want_p or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def xdp_prog(t, dev):
    """(mode, program name) of dev's XDP program, or None."""
    link = json.loads(e2e.nsx(t.mns, "ip", "-j", "-d", "link", "show",
                                  "dev", dev).stdout)[0]
    x = link.get("xdp")
    if not x:
        return None
    mode = {1: "native", 2: "generic", 3: "offload"}.get(x.get("mode"))
    prog = x.get("prog") or {}
    return mode, prog.get("name")


def up(start_monitor, t, phase, *args, **kw):
    """start_monitor() with room for a slow start (a kernel booted under
    TCG in the kernel matrix), naming the phase if it never gets ready."""
    m = start_monitor(t, *args, wait=False, **kw)
    try:
        m.wait_ready(120)
    except (RuntimeError, TimeoutError) as e:
        raise AssertionError("%s: %s" % (phase, e))
    return m


FOREIGN_XDP = r"""
__attribute__((section("xdp"), used)) int foreign_pass(void *ctx)
{ return 2; }
char _license[] __attribute__((section("license"), used)) = "GPL";
"""


def test_xdp_counts_like_tc(itm_bin, topo, start_monitor, pin_base,
                            tmp_path, monkeypatch):
    t = topo
    # Multi-buffer XDP programs came in Linux 5.18 (the monitor probes;
    # `check` says so too, at the cost of loading every program).
    frags = tuple(int(x) for x in
                  os.uname().release.split("-")[0].split(".")[:2]) >= (5, 18)
    t.add_pair("itm1m", "itm1p", "10.78.0.1", "10.78.0.2")
    pairs = [(t.mif, t.pif), ("itm1m", "itm1p")]
    if frags:
        for mif, pif in pairs:
            e2e.nsx(t.mns, "ip", "link", "set", mif, "mtu", str(JUMBO_MTU))
            e2e.nsx(t.pns, "ip", "link", "set", pif, "mtu", str(JUMBO_MTU))
    else:
        print("no multi-buffer XDP programs on this kernel (Linux < 5.18):"
              " the jumbo-frame case is skipped")
    gen = generator(jumbo=frags)
    want1, want2, want3 = (truth(gen, r) for r in (1, 2, 3))

    # Attribution on (the default): TC ingress stays attached with --xdp
    # and must count nothing, or every rx byte would show twice.
    xmon = up(start_monitor, t, "first --xdp start", "-s", "0.2", "--xdp",
              "--keep-attached", quiet=False)
    tmon = up(start_monitor, t, "TC monitor start", "-s", "0.2",
              port=9878, ifaces=["itm1m"])
    assert xdp_prog(t, t.mif) == ("native", "itm_xdp_frags" if frags
                                  else "itm_xdp")
    assert xdp_prog(t, "itm1m") is None
    assert t.tcx_programs()["ingress"] or t.tc_filters()
    assert "counted at XDP, native mode" in xmon.stderr()
    feat = xmon.scrape().value("ip_traffic_feature", feature="xdp",
                               state="enabled", variant="native")
    assert feat == 1

    # Real sockets too: UDP both ways, both families, through the stack.
    sinks_m = e2e.Sinks(t.mns, t.mon_addrs, 5001)
    sinks_p = e2e.Sinks(t.pns, [t.peer4[0], t.peer6[0]], 5001)
    try:
        sock = {}
        for peer in (t.peer4[0], t.peer6[0]):
            rx = e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), 5001,
                              [1, 100, 1000, 1472 if ":" not in peer
                               else 1452])
            tx = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, 5001,
                              [10, 500])
            sock[peer] = (tx, rx)
    finally:
        sinks_m.close()
        sinks_p.close()
    send(t, gen, pairs)
    t.wait_quiet(quiet_for=0.3)
    want_x = (dict(want1[0], **{p: [rx[0], rx[1]]
                                for p, (_, rx) in sock.items()}), want1[1])
    assert settle(xmon, want_x) == want_x
    assert settle(tmon, want1) == want1
    per = xmon.scrape().per_ip()
    for p, (tx, _) in sock.items():
        assert (per[p]["tx_bytes"], per[p]["tx_packets"]) == tx

    # --keep-attached: stop, traffic while nobody runs, start again.
    assert xmon.stop() == 0
    assert xdp_prog(t, t.mif) is not None, "--keep-attached left no XDP"
    send(t, gen, pairs)
    t.wait_quiet(quiet_for=0.3)
    xmon2 = up(start_monitor, t, "kept restart", "-s", "0.2", "--xdp",
               "--keep-attached")
    send(t, gen, pairs)
    t.wait_quiet(quiet_for=0.3)
    # Per address: what the new run drained (the kept maps' frames
    # and its own); the non-IP/malformed counters are never reset, so
    # they go on from the first run's.
    want = (want2[0], want3[1])
    assert settle(xmon2, want) == want
    assert settle(tmon, want3) == want3
    assert xdp_prog(t, t.mif)[0] == "native"

    # The same with frames arriving throughout: stop and start at random
    # moments while a sender writes round after round.  The non-IP and
    # malformed counters are never reset, so they must add up to every
    # round sent, through each takeover of the pinned XDP link.
    rounds = 3
    for _ in range(3):
        sent, done = [0], threading.Event()

        def pump():
            while not done.is_set():
                send(t, gen, pairs)
                sent[0] += 1
                time.sleep(random.uniform(0, 0.02))

        th = threading.Thread(target=pump)
        th.start()
        try:
            time.sleep(random.uniform(0.05, 0.3))
            assert xmon2.stop() == 0
            time.sleep(random.uniform(0, 0.3))
            xmon2 = up(start_monitor, t, "restart under traffic", "-s",
                       "0.2", "--xdp", "--keep-attached")
            time.sleep(random.uniform(0, 0.3))
        finally:
            done.set()
            th.join()
        assert sent[0] > 0
        rounds += sent[0]
        t.wait_quiet(quiet_for=0.3)
        want = truth(gen, rounds)
        assert settle(xmon2, want, part=1) == want[1]
        assert settle(tmon, want) == want
    assert xmon2.stop() == 0

    # `detach` removes the kept XDP link with the rest.
    pin_dir = os.path.join(pin_base, t.instance())
    e2e.sh("nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "detach", "-i",
           t.mif, "--pin-dir", pin_base)
    assert xdp_prog(t, t.mif) is None
    assert not os.path.exists(pin_dir)

    # Another XDP program owns the hook: refused with one line, exit 2,
    # and the program left where it is.
    src = tmp_path / "foreign.c"
    src.write_text(FOREIGN_XDP)
    obj = str(tmp_path / "foreign.o")
    subprocess.run(["clang", "-O2", "-target", "bpf", "-c", str(src), "-o",
                    obj], check=True)
    e2e.nsx(t.mns, "ip", "link", "set", "dev", t.mif, "xdpgeneric", "obj",
            obj, "sec", "xdp")
    try:
        bad = start_monitor(t, "--xdp", wait=False)
        assert bad.wait(30) == 2
        err = bad.stderr().strip().splitlines()
        assert len(err) == 1 and "another XDP program" in err[0], err
        assert xdp_prog(t, t.mif) == ("generic", "foreign_pass")
        assert not t.tcx_programs()["ingress"]
    finally:
        e2e.nsx(t.mns, "ip", "link", "set", "dev", t.mif, "xdpgeneric",
                "off")

    # A driver without native XDP: generic mode, counting the same.
    monkeypatch.setenv("ITM_TEST_REFUSE", "xdp_native")
    gmon = up(start_monitor, t, "generic-mode start", "-s", "0.2", "--xdp",
              quiet=False)
    assert xdp_prog(t, t.mif)[0] == "generic"
    assert "generic mode: native mode refused" in gmon.stderr()
    assert gmon.scrape().value("ip_traffic_feature", feature="xdp",
                               variant="generic", state="enabled") == 1
    send(t, gen, pairs)
    t.wait_quiet(quiet_for=0.3)
    assert settle(gmon, want1) == want1
    want = truth(gen, rounds + 1)
    assert settle(tmon, want) == want
    assert gmon.stop() == 0
    assert xdp_prog(t, t.mif) is None


# ------------------------------------------------- attribution under --xdp
#
# XDP counts every received frame under pid 0; TC ingress then looks each
# frame's socket up as it does without --xdp and moves what belongs to a
# process from pid 0 to its pid, in the same map (move_rx() in
# bpf/traffic.bpf.c).  Ground truth: a capture on the PEER's device (each
# frame there is a wire frame: the peers send without GSO, while the
# monitored devices have GRO on, so TC ingress sees GRO'd super-frames).

RX_UDP, RX_TCP, CLOSED = 5001, 5002, 5999


def receiver(gate, udp_addrs, tcp_addrs):
    """In the monitor namespace, named itmrx: read every datagram on
    udp_addrs:RX_UDP, accept on tcp_addrs:RX_TCP and read each connection
    to EOF, then close it (the peer closes first: no frame of it reaches a
    time-wait socket, so every one is the receiver's).  Returns when the
    parent says go; (datagrams, TCP bytes) read."""
    import select
    socks, conns = [], []
    for a in udp_addrs:
        s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET,
                          socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((a, RX_UDP))
        socks.append(s)
    lis = []
    for a in tcp_addrs:
        s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET,
                          socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, RX_TCP))
        s.listen(16)
        lis.append(s)
    dgrams = tcp = 0
    while True:
        r, _, _ = select.select(socks + lis + conns + [gate.fd], [], [], 30)
        if not r:
            raise TimeoutError("receiver idle for 30 s")
        for s in r:
            if s is gate.fd:
                assert os.read(gate.fd, 1) == b"g"
                return dgrams, tcp
            if s in socks:
                s.recv(65536)
                dgrams += 1
            elif s in lis:
                c, _ = s.accept()
                conns.append(c)
            else:
                b = s.recv(1 << 20)
                tcp += len(b)
                if not b:
                    conns.remove(s)
                    s.close()


def wait_bound(ns, n_udp, n_tcp):
    """Until the receiver's sockets are bound (it runs in another
    process)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        u = e2e.nsx(ns, "ss", "-Hlun", "sport", "=", ":%d" % RX_UDP).stdout
        tc = e2e.nsx(ns, "ss", "-Hltn", "sport", "=", ":%d" % RX_TCP).stdout
        if (len(u.strip().splitlines()) >= n_udp and
                len(tc.strip().splitlines()) >= n_tcp):
            return
        time.sleep(0.05)
    raise AssertionError("the receiver's sockets were never bound")


def peer_udp(pns, src, dst, sizes, closed=()):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = e2e.ns_socket(pns, fam, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        for n in sizes:
            assert s.sendto(b"x" * n, (dst, RX_UDP)) == n
        for n in closed:
            assert s.sendto(b"c" * n, (dst, CLOSED)) == n
    finally:
        s.close()



def peer_truth(pcap, peer_mac):
    """From a capture on the peer's device, every IP frame the peer sent:
    per source address [bytes, packets], and per (source, owner) where
    owner is "rx" for frames to the receiver's ports, "0" for the rest
    (no local socket)."""
    per_src, per_owner = {}, {}
    for d, pkt, _ in e2e.iter_frames(pcap, [peer_mac]):
        if d != "tx":
            continue
        et = struct.unpack("!H", pkt[12:14])[0]
        l3 = pkt[14:]
        if et == 0x0800:
            tot = struct.unpack("!H", l3[2:4])[0]
            proto, l4 = l3[9], l3[(l3[0] & 15) * 4:]
            src = socket.inet_ntop(socket.AF_INET, l3[12:16])
        elif et == 0x86DD:
            tot = 40 + struct.unpack("!H", l3[4:6])[0]
            proto, l4 = l3[6], l3[40:]
            src = socket.inet_ntop(socket.AF_INET6, l3[8:24])
        else:
            continue
        dport = struct.unpack("!H", l4[2:4])[0] if proto in (6, 17) else 0
        owner = "rx" if dport in (RX_UDP, RX_TCP) else "0"
        for table, key in ((per_src, src), (per_owner, (src, owner))):
            e = table.setdefault(key, [0, 0])
            e[0] += tot
            e[1] += 1
    return per_src, per_owner


def attributed(m, srcs, rx_pid):
    """What a scrape shows received per source address, and per (source,
    owner) as peer_truth() names them; plus the missed moves."""
    per_src = {ip: [c["rx_bytes"], c["rx_packets"]]
               for ip, c in m.per_ip().items()
               if c["rx_packets"] and ip in srcs}
    per_owner = {}
    for src in srcs:
        for owner, pid in (("rx", rx_pid), ("0", 0)):
            b = m.exact("ip_traffic_process_rx_bytes_total", remote_ip=src,
                        pid=str(pid))
            p = m.exact("ip_traffic_process_rx_packets_total",
                        remote_ip=src, pid=str(pid))
            if p:
                per_owner[(src, owner)] = [b, p]
    return per_src, per_owner


def settle_on(fn, want, timeout=20, part=None):
    """fn() until it (or its part) equals want (or its part)."""
    if part is not None:
        want = want[part]
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if part is not None:
            got = got[part]
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def missed(m):
    """The missed moves of --xdp, [bytes, packets] over all interfaces."""
    return [int(sum(v for _, v in m.all(
        "ip_traffic_xdp_attribution_missed_%s_total" % u)))
        for u in ("bytes", "packets")]


def ingress_program(t, dev):
    ids = t.tcx_programs(dev=dev)["ingress"]
    if ids:
        p = e2e.sh("bpftool", "-j", "prog", "show", "id", str(ids[0]))
        return json.loads(p.stdout)["name"]
    names = [name for kind, h, name in t.attached_programs(dev=dev)
             if kind == "tc" and h == "clsact/ingress"]
    assert len(names) == 1, t.attached_programs(dev=dev)
    return names[0].split(":[")[0]


def test_xdp_attributes_rx_like_tc(topo, start_monitor, tmp_path):
    """--xdp with attribution (the default) against TC ingress on a twin
    pair, the same traffic on both: UDP and TCP to a receiving process,
    UDP to a port nobody listens on.  GRO is on where the monitors
    receive: TC ingress sees super-frames there, XDP every frame.  Both
    monitors must equal their own pair's capture: per address, and per
    process (every frame to the receiver is its; the rest pid 0)."""
    t = topo
    t.add_pair("itm1m", "itm1p", "10.78.0.1", "10.78.0.2")
    e2e.nsx(t.mns, "ip", "-6", "addr", "add", "fd78::1/64", "dev", "itm1m",
            "nodad")
    e2e.nsx(t.pns, "ip", "-6", "addr", "add", "fd78::2/64", "dev", "itm1p",
            "nodad")
    e2e.nsx(t.mns, "ip", "neigh", "replace", "fd78::2", "lladdr",
            t._mac(t.pns, "itm1p"), "dev", "itm1m", "nud", "permanent")
    e2e.nsx(t.pns, "ip", "neigh", "replace", "fd78::1", "lladdr",
            t._mac(t.mns, "itm1m"), "dev", "itm1p", "nud", "permanent")
    for dev in (t.mif, "itm1m"):
        e2e.nsx(t.mns, "ethtool", "-K", dev, "gro", "on")
    t.wait_quiet(quiet_for=0.3)
    xmon = up(start_monitor, t, "--xdp start", "-s", "0.2", "--xdp")
    tmon = up(start_monitor, t, "TC monitor start", "-s", "0.2",
              port=9878, ifaces=["itm1m"])
    assert ingress_program(t, t.mif) in ("itm_ingress_mv", "itm_ingr_mv_hlp")
    pairs = {"x": (t.pif, [(t.peer4[0], t.MON4), (t.peer6[0], t.MON6)]),
             "t": ("itm1p", [("10.78.0.2", "10.78.0.1"),
                             ("fd78::2", "fd78::1")])}
    caps = {k: e2e.Capture(t.pns, pif, str(tmp_path / ("%s.pcap" % pif)))
            for k, (pif, _) in pairs.items()}
    # What the monitor's stack built from them: GRO'd super-frames.
    gro_cap = e2e.Capture(t.mns, t.mif, str(tmp_path / "gro.pcap"))
    mons = [a for _, (_, ps) in pairs.items() for _, a in ps]
    rx = e2e.Forked(t.mns, receiver, mons, mons, name="itmrx", gated=True)
    try:
        wait_bound(t.mns, 4, 4)
        for _, ps in pairs.values():
            for src, dst in ps:
                peer_udp(t.pns, src, dst, [1, 100, 1000, 1400],
                         closed=[10, 300])
                e2e.tcp_send_all(t.pns, src, dst, RX_TCP, 400000, timeout=20)
        t.wait_quiet(quiet_for=0.3)
    finally:
        rx.go()
        for c in list(caps.values()) + [gro_cap]:
            c.stop()
    dgrams, tcp = rx.wait()
    # The hard case is there: TC ingress saw skbs of several frames each
    # (an IP length beyond the MTU), which XDP had counted one by one.
    merged = [len(p) for d, p, orig in e2e.iter_frames(gro_cap.path,
                                                       [t.mmac])
              if d == "rx" and orig > 1514]
    assert merged, "GRO merged no frames on %s" % t.mif
    truths = {k: peer_truth(c.path, t._mac(t.pns, pairs[k][0]))
              for k, c in caps.items()}
    assert dgrams == 16 and tcp == 4 * 400000, (dgrams, tcp)
    for k, m in (("x", xmon), ("t", tmon)):
        srcs = [s for s, _ in pairs[k][1]]
        want = truths[k]
        assert set(o for _, o in want[1]) == {"rx", "0"}
        got = settle_on(lambda: attributed(m.scrape(), srcs, rx.pid), want)
        if k == "t":
            assert got == want, (k, got, want)
            continue
        # --xdp: per address exact.  A frame TC ingress attributed but
        # could not move (the map was swapped for a drain between XDP and
        # TC, while GRO held the frame: likelier the slower the machine,
        # as under the kernel matrix's emulation) stays under pid 0, and
        # the missed counter says exactly how much; most frames move.
        assert got[0] == want[0], (k, got, want)
        lost = missed(m.scrape())
        excess, short = [0, 0], [0, 0]
        for s in srcs:
            for i in (0, 1):
                excess[i] += (got[1].get((s, "0"), [0, 0])[i] -
                              want[1].get((s, "0"), [0, 0])[i])
                short[i] += (want[1].get((s, "rx"), [0, 0])[i] -
                             got[1].get((s, "rx"), [0, 0])[i])
        assert excess == short == lost, (got, want, lost)
        moved = sum(want[1].get((s, "rx"), [0, 0])[1] for s in srcs)
        assert 4 * lost[1] <= moved, (lost, moved)


def test_xdp_attribution_kept_restarts(topo, start_monitor, tmp_path,
                                       itm_bin):
    """--xdp --keep-attached --db, restarted at random moments while a
    peer sends to a receiving process and to a closed port: the kept
    programs go on counting and moving into the pinned maps, the next run
    drains them, --db carries the totals across.  Per address and per
    process the last run must equal the capture: nothing lost, nothing
    moved twice."""
    t = topo
    # The receiver's sockets outlive each restart: their owner is known
    # to the next run only where it scans the open sockets at start (as
    # without --xdp; docs/processes.md).
    feats = e2e.kernel_features(itm_bin, t.mns)
    scan = feats["owner_scan"][1] in ("enabled", "degraded")
    for dev in (t.mif,):
        e2e.nsx(t.mns, "ethtool", "-K", dev, "gro", "on")
    t.wait_quiet(quiet_for=0.3)
    db = str(tmp_path / "kept.db")
    args = ("-s", "0.2", "--xdp", "--keep-attached", "--db", db)
    srcs = [(t.peer4[0], t.MON4), (t.peer6[0], t.MON6)]
    cap = e2e.Capture(t.pns, t.pif, str(tmp_path / "peer.pcap"))
    rx = e2e.Forked(t.mns, receiver, [t.MON4, t.MON6], [t.MON4, t.MON6],
                    name="itmrx", gated=True)
    mon = None
    ok = False
    try:
        wait_bound(t.mns, 2, 2)
        mon = up(start_monitor, t, "first start", *args)
        sent, done = [0], threading.Event()

        def pump():
            while not done.is_set():
                for src, dst in srcs:
                    peer_udp(t.pns, src, dst, [60, 1000], closed=[20])
                    if sent[0] % 5 == 0:
                        e2e.tcp_send_all(t.pns, src, dst, RX_TCP, 50000,
                                         timeout=20)
                sent[0] += 1
                time.sleep(random.uniform(0, 0.01))

        th = threading.Thread(target=pump)
        th.start()
        try:
            for i in range(3):
                time.sleep(random.uniform(0.1, 0.4))
                assert mon.stop() == 0
                time.sleep(random.uniform(0, 0.3))
                mon = up(start_monitor, t, "restart %d under traffic" % i,
                         *args)
            time.sleep(random.uniform(0.1, 0.3))
        finally:
            done.set()
            th.join()
        assert sent[0] > 0
        t.wait_quiet(quiet_for=0.3)
        ok = True
    finally:
        cap.stop()
        if not ok:
            rx.go()
            rx.wait()
    try:
        want = peer_truth(cap.path, t._mac(t.pns, t.pif))
        if not scan:
            print("no scan of open sockets on this kernel: the receiver's "
                  "sockets are not attributed after a restart; per address "
                  "only")
        got = settle_on(lambda: attributed(mon.scrape(),
                                           [s for s, _ in srcs], rx.pid),
                        want, part=0)
        # Nothing lost, nothing counted twice: per address, exactly.
        assert got == want[0]
        assert missed(mon.scrape()) == [0, 0]
        if scan:
            # Nothing moved twice: the receiver never gets more than its
            # frames, and what it lacks is under pid 0.  It can lack a
            # few: frames that arrive while a new run has not yet read
            # the owners of the open sockets are pid 0's at TC ingress
            # itself, with or without --xdp (the matrix's 6.1 under
            # emulation: 5 of ~3000; none here).
            per = attributed(mon.scrape(), [s for s, _ in srcs],
                             rx.pid)[1]
            for src, _ in srcs:
                for f in (0, 1):
                    g_rx = per.get((src, "rx"), [0, 0])[f]
                    w_rx = want[1].get((src, "rx"), [0, 0])[f]
                    g_0 = per.get((src, "0"), [0, 0])[f]
                    w_0 = want[1].get((src, "0"), [0, 0])[f]
                    assert 0 <= w_rx - g_rx == g_0 - w_0, (src, per, want)
                    assert w_rx - g_rx <= w_rx // 100, (src, per, want)
    finally:
        rx.go()
        rx.wait()


def test_xdp_attribution_while_the_store_waits(topo, start_monitor,
                                               tmp_path):
    """--xdp --db with the database locked: every drain then reads the
    active map without swapping it (persist.c), while XDP counts frames
    under pid 0 and TC ingress moves them to the receiver, so a read can
    fall between the two for a frame (rxmove.h).  Scraped all along under
    a flood: no series ever goes back; after the lock is released the
    totals equal the capture, per address and per process."""
    import sqlite3
    t = topo
    e2e.nsx(t.mns, "ethtool", "-K", t.mif, "gro", "on")
    t.wait_quiet(quiet_for=0.3)
    db = str(tmp_path / "locked.db")
    srcs = [(t.peer4[0], t.MON4), (t.peer6[0], t.MON6)]
    cap = e2e.Capture(t.pns, t.pif, str(tmp_path / "peer.pcap"))
    # Started first: its sockets are attributed on every kernel.
    mon = up(start_monitor, t, "--xdp --db start", "-s", "0.2", "--xdp",
             "--db", db)
    rx = e2e.Forked(t.mns, receiver, [t.MON4, t.MON6], [t.MON4, t.MON6],
                    name="itmrx", gated=True)
    seen, back = {}, []

    def check_monotonic(m):
        for fam in ("rx_bytes", "rx_packets"):
            for lab, v in m.all("ip_traffic_process_%s_total" % fam):
                k = (fam, lab["remote_ip"], lab["pid"])
                if v < seen.get(k, 0):
                    back.append((k, seen[k], v))
                seen[k] = v

    released = False
    try:
        wait_bound(t.mns, 2, 2)
        peer_udp(t.pns, srcs[0][0], srcs[0][1], [100])
        time.sleep(0.5)
        con = sqlite3.connect(db, isolation_level=None, timeout=10)
        con.execute("BEGIN IMMEDIATE")  # a long writer holds the lock
        try:
            done = threading.Event()

            def flood():
                while not done.is_set():
                    # All of it the receiver's: pid 0 grows by nothing
                    # but frames not yet moved, the case to catch.
                    for src, dst in srcs:
                        peer_udp(t.pns, src, dst, [1400] * 20)
                        e2e.tcp_send_all(t.pns, src, dst, RX_TCP, 300000,
                                         timeout=20)
                    time.sleep(0.005)

            th = threading.Thread(target=flood)
            th.start()
            try:
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    check_monotonic(mon.scrape())
            finally:
                done.set()
                th.join()
            assert "locked" in mon.stderr(), mon.stderr()
        finally:
            con.execute("ROLLBACK")
            con.close()
        t.wait_quiet(quiet_for=0.3)
        cap.stop()
        released = True
        want = peer_truth(cap.path, t._mac(t.pns, t.pif))
        settle_on(lambda: attributed(mon.scrape(), [s for s, _ in srcs],
                                     rx.pid)[0], want[0])
        got = attributed(mon.scrape(), [s for s, _ in srcs], rx.pid)
        print("missed moves (bytes, packets):", missed(mon.scrape()))
        check_monotonic(mon.scrape())
        assert not back, back[:5]
        # Per address: exact.  Per process: what memory had applied under
        # pid 0 before it moved stays there, reported as missed moves.
        assert got[0] == want[0]
        mb, mp = missed(mon.scrape())
        for src, _ in srcs:
            w0 = want[1].get((src, "0"), [0, 0])
            g0 = got[1].get((src, "0"), [0, 0])
            mb -= g0[0] - w0[0]
            mp -= g0[1] - w0[1]
            wr, gr = want[1][(src, "rx")], got[1][(src, "rx")]
            assert g0[0] - w0[0] == wr[0] - gr[0] >= 0
            assert g0[1] - w0[1] == wr[1] - gr[1] >= 0
        assert [mb, mp] == [0, 0], missed(mon.scrape())
        assert mon.stop() == 0
    finally:
        if not released:
            cap.stop()
        rx.go()
        rx.wait()
