# SPDX-License-Identifier: MIT
"""The aggregate IPFIX records (non-IP, malformed, map overflow) kept by
both real collectors, and the UDP template refresh on time.

One monitor with a 4-entry map and ten peers (so some traffic overflows),
raw non-IP and truncated IP frames, exports over UDP to a relay in the
monitor's namespace that stamps every datagram with its kernel receive
time and hands a copy to nfcapd and one to pmacct's nfacctd.  Each
collector's 0.0.0.0 -> 0.0.0.0 flows, told apart by protocolIdentifier
(253 non_ip, 254 malformed, 255 overflow), must equal the monitor's own
counters byte for byte, which in turn equal the frames sent and (with the
per-address sums) the datagrams sent.  The relay's stamps give the gaps
between template messages: each within the scheduling jitter of the
refresh period, i.e. never a flush late."""

import os
import socket
import struct
import threading
import time

import flow_collectors as fc
import itm_e2e as e2e

PORT = 5004  # UDP traffic between the namespaces
RELAY_PORT = 4739  # what the monitor exports to
NFCAPD_PORT = 4740
NFACCTD_PORT = 4741
FLUSH = 1.0  # --ipfix-interval
REFRESH = 3  # --ipfix-template-refresh
# A template gap may differ from REFRESH by the scheduling jitter of two
# flushes; one flush late (REFRESH + FLUSH, what the old code often did)
# must not pass.
SLACK = 0.7 * FLUSH
RUN_FOR = 16.6  # seconds of export: templates at ~1, 4, 7, 10, 13, 16 s
KINDS = {"non_ip": 253, "malformed": 254, "overflow": 255}

SO_TIMESTAMPNS = 35  # asm-generic/socket.h, also SCM_TIMESTAMPNS


class Relay:
    """UDP on 127.0.0.1:RELAY_PORT in ns: every datagram is forwarded
    unchanged to each target and kept with its kernel receive time."""

    def __init__(self, ns, targets):
        self.targets = targets
        self.msgs = []  # (receive time, datagram)
        self.sock = e2e.ns_socket(ns, socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", RELAY_PORT))
        self.sock.settimeout(0.2)
        self.out = e2e.ns_socket(ns, socket.AF_INET, socket.SOCK_DGRAM)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data, anc, _, _ = self.sock.recvmsg(65535, 64)
            except socket.timeout:
                continue
            stamp = None  # checked by template_times()
            for level, kind, val in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    stamp = sec + nsec / 1e9
            self.msgs.append((stamp, data))
            for port in self.targets:
                self.out.sendto(data, ("127.0.0.1", port))

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()
        self.out.close()

    def template_times(self):
        """Receive times of the messages holding a template set (ID 2)."""
        times = []
        for stamp, m in self.msgs:
            assert stamp is not None, "no kernel receive time"
            assert struct.unpack("!HH", m[:4]) == (10, len(m))
            off = 16
            while off + 4 <= len(m):
                sid, slen = struct.unpack("!HH", m[off:off + 4])
                assert slen >= 4
                if sid == 2:
                    times.append(stamp)
                    break
                off += slen
        return times


class Nfcapd(fc.Nfcapd):
    FMT = "fmt:%sa|%da|%pr|%in|%out|%pkt|%byt"

    def flows(self):
        """(src, dst, proto, in, out) -> [bytes, packets]"""
        out = {}
        if not any(f.startswith("nfcapd.") and "current" not in f
                   for f in os.listdir(self.flowdir)):
            return out
        p = e2e.sh("nfdump", "-R", self.flowdir, "-N", "-q", "-o", self.FMT)
        for line in p.stdout.splitlines():
            f = [x.strip() for x in line.split("|")]
            if len(f) != 7:
                continue
            sa, da, pr, i, o, pkt, byt = f
            # nfdump names the protocols it knows (UDP); ours are numbers
            pr = int(pr) if pr.isdigit() else socket.getprotobyname(pr)
            key = (sa, da, pr, int(i), int(o))
            e = out.setdefault(key, [0, 0])
            e[0] += int(byt)
            e[1] += int(pkt)
        return out


class Nfacctd(fc.Nfacctd):
    def start(self):
        conf = os.path.join(self.dir, "nfacctd.conf")
        with open(conf, "w") as f:
            f.write("daemonize: false\n"
                    "nfacctd_ip: 127.0.0.1\n"
                    "nfacctd_port: %d\n"
                    "nfacctd_time_new: true\n"
                    "pidfile: %s\n"
                    "plugins: print[p]\n"
                    "aggregate[p]: src_host, dst_host, proto, in_iface, "
                    "out_iface\n"
                    "print_num_protos[p]: true\n"
                    "print_output[p]: csv\n"
                    "print_output_file[p]: %s\n"
                    "print_output_file_append[p]: true\n"
                    "print_refresh_time[p]: 1\n"
                    % (self.port, os.path.join(self.dir, "nfacctd.pid"),
                       self.csv))
        return self._spawn(["nfacctd", "-f", conf])

    def flows(self):
        out = {}
        if not os.path.exists(self.csv):
            return out
        header = None
        with open(self.csv) as f:
            for line in f:
                cols = line.strip().split(",")
                if cols and cols[0] == "IN_IFACE":
                    header = cols
                    continue
                if not header or len(cols) != len(header):
                    continue
                r = dict(zip(header, cols))
                key = (r["SRC_IP"], r["DST_IP"], int(r["PROTOCOL"]),
                       int(r["IN_IFACE"]), int(r["OUT_IFACE"]))
                e = out.setdefault(key, [0, 0])
                e[0] += int(r["BYTES"])
                e[1] += int(r["PACKETS"])
        return out


def _kinds(flows, ifindex):
    """Aggregates per kind from a collector's flows, and the per-address
    table of the others (remote = destination on egress, source on
    ingress)."""
    agg = {k: e2e.empty_counts() for k in KINDS}
    addrs = {}
    names = {v: k for k, v in KINDS.items()}
    for (sa, da, pr, i, o), (byt, pkt) in flows.items():
        d = "tx" if o == ifindex else "rx"
        assert (i, o) in ((0, ifindex), (ifindex, 0)), (sa, da, i, o)
        if sa == da == "0.0.0.0":
            assert pr in names, (sa, da, pr)
            agg[names[pr]][d + "_bytes"] += byt
            agg[names[pr]][d + "_packets"] += pkt
        else:
            assert pr == 0, (sa, da, pr)  # per-address: no protocol
            e2e.add_counts(addrs, da if d == "tx" else sa, d, byt, pkt)
    return agg, addrs


def _udp_round(t, seed):
    """UDP both ways with each of the ten peers, in one quick burst: ten
    addresses in under a sample interval do not fit a 4-entry map."""
    truth = {}
    for i, peer in enumerate(t.peers):
        sizes = [40 + seed + 11 * i, 600 + i, 1100 - i]
        b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT, sizes)
        e2e.add_counts(truth, peer, "tx", b, p)
        b, p = e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), PORT,
                            sizes[: 1 + (i + seed) % 3])
        e2e.add_counts(truth, peer, "rx", b, p)
    return truth


def _frames(t):
    """Non-IP and truncated IP frames both ways, as in test_non_ip.py;
    returns what the monitor must count (frame bytes)."""
    bcast = "ff:ff:ff:ff:ff:ff"
    arp = bytes(28)
    e2e.raw_send(t.mns, t.mif, [
        e2e.eth_frame(bcast, t.mmac, 0x0806, arp),                   # 42
        e2e.eth_frame(bcast, t.mmac, 0x88CC, bytes(100)),            # 114
        e2e.eth_frame(t.pmac, t.mmac, 0x0800, b"\x45" + bytes(9))])  # 24
    e2e.raw_send(t.pns, t.pif, [
        e2e.eth_frame(t.mmac, t.pmac, 0x0806, arp),                  # 42
        e2e.eth_frame(t.mmac, t.pmac, 0x88B5, bytes(50)),            # 64
        e2e.eth_frame(t.mmac, t.pmac, 0x86DD, b"\x60" + bytes(19)),  # 34
        e2e.eth_frame(t.mmac, t.pmac, 0x0800, b"\x45" + bytes(9))])  # 24
    return {"non_ip": {"tx_bytes": 156, "tx_packets": 2,
                       "rx_bytes": 106, "rx_packets": 2},
            "malformed": {"tx_bytes": 24, "tx_packets": 1,
                          "rx_bytes": 58, "rx_packets": 2}}


def _times(table, n):
    return {k: v * n for k, v in table.items()}


def test_aggregates_in_both_collectors_and_template_refresh(request,
                                                            tmp_path):
    t = e2e.Topology(extra_peer4=3)  # ten peers
    request.addfinalizer(t.teardown)
    t.setup()
    start_monitor = request.getfixturevalue("start_monitor")
    ifindex = int(e2e.nsx(t.mns, "cat", "/sys/class/net/%s/ifindex" % t.mif)
                  .stdout)
    nfc = Nfcapd(t.mns, NFCAPD_PORT, str(tmp_path / "nfcapd")).start()
    request.addfinalizer(nfc.stop)
    nfa = Nfacctd(t.mns, NFACCTD_PORT, str(tmp_path / "nfacctd")).start()
    request.addfinalizer(nfa.stop)
    relay = Relay(t.mns, [NFCAPD_PORT, NFACCTD_PORT])
    request.addfinalizer(relay.stop)
    sinks = [e2e.Sinks(t.pns, t.peers, PORT),
             e2e.Sinks(t.mns, t.mon_addrs, PORT)]
    try:
        mon = start_monitor(t, "-s", "0.5", "--map-size", "4",
                            "--ipfix", "127.0.0.1:%d" % RELAY_PORT,
                            "--ipfix-interval", str(FLUSH),
                            "--ipfix-template-refresh", str(REFRESH))
        began = time.monotonic()
        truth = {}
        frames = 0
        # Traffic in several flushes, then idle flushes until the
        # template gaps have been seen several times.
        for r in range(4):
            truth = e2e.merge_counts(truth, _udp_round(t, r))
            if r % 2:
                want = _frames(t)
                frames += 1
            time.sleep(1.3)
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape()
        left = RUN_FOR - (time.monotonic() - began)
        if left > 0:
            time.sleep(left)
        assert mon.stop() == 0
        # nfacctd's print plugin writes its cache every second
        time.sleep(1.5)
    finally:
        for s in sinks:
            s.close()
        relay.stop()
        nfc.stop()
        nfa.stop()

    # The monitor: frames and datagrams exactly; some traffic overflowed.
    for kind in ("non_ip", "malformed"):
        assert m.totals(kind) == _times(want[kind], frames), kind
    overflow = m.totals("overflow")
    assert overflow["tx_packets"] + overflow["rx_packets"] > 0, \
        "ten addresses in a 4-entry map must overflow"
    per_ip = m.per_ip()
    sent = e2e.sum_counts(truth)
    have = e2e.sum_counts(per_ip)
    for k in sent:
        assert have[k] + overflow[k] == sent[k], k
    mine = {k: m.totals(k) for k in KINDS}
    print("monitor aggregates: %r" % mine)

    # Both collectors: every aggregate exactly, every address exactly.
    for name, col in (("nfcapd", nfc), ("nfacctd", nfa)):
        flows = col.flows()
        deadline = time.monotonic() + 5
        while not flows and time.monotonic() < deadline:
            time.sleep(0.2)
            flows = col.flows()
        agg, addrs = _kinds(flows, ifindex)
        assert agg == mine, (name, col.log()[-2000:])
        assert addrs == per_ip, name

    # Templates: the first with the first flush, then every REFRESH s.
    times = relay.template_times()
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
    print("template gaps (s): %r" % gaps)
    assert len(gaps) >= 4, gaps
    for g in gaps:
        assert REFRESH - SLACK <= g <= REFRESH + SLACK, gaps
