# SPDX-License-Identifier: MIT
"""Frames whose headers are not in the skb's linear area, counted exactly.

An AF_PACKET socket with a PACKET_TX_RING hands the kernel frames that it
does not copy: only the Ethernet header goes into the skb's linear area,
the rest (IP header on) stays in the ring's pages as fragments, and veth
passes them on so at the peer's TC ingress too.  The TC program reads such
headers from a copy on its stack (bpf_skb_load_bytes()) at egress, and
pulls them in at ingress (and for the ingress socket lookup of process
attribution).  Both ways are checked here, in the
monitor's egress and ingress, against the lengths written in the frames:
IPv4 (with and without options, shorter than the copy), IPv6 (with an
extension header), 802.1Q and QinQ tags (and a QinQ IPv6 header that ends
past the copy), a truncated IPv4 header
(malformed) and ARP (not IP), several rounds in one daemon run.  Twice:
with GRO off on the monitor's interface (veth's default: ingress sees only
the Ethernet header in the linear area, and pulls exactly the headers it
reads) and on (GRO pulls the IP header in first, and ingress reads it in
place)."""

import mmap
import socket
import struct

import pytest

import itm_e2e as e2e

SOL_PACKET = 263
PACKET_VERSION = 10
PACKET_TX_RING = 13
TPACKET_V2 = 1
TP_STATUS_AVAILABLE = 0
TP_STATUS_SEND_REQUEST = 1
FRAME_SIZE = 2048
FRAMES = 64
# TPACKET2_HDRLEN - sizeof(struct sockaddr_ll): where the frame starts.
DATA_OFF = 32

OTHERHOST = "02:00:00:00:77:99"  # nobody's MAC: the receiver drops it
SINK_PORT = 9977


def ring_send(ns, dev, frames):
    """Sends frames through a TX ring bound to dev, one batch per ring
    fill; every frame must come back sent (TP_STATUS_AVAILABLE)."""
    s = e2e.ns_socket(ns, socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((dev, 0))
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        s.setsockopt(SOL_PACKET, PACKET_TX_RING,
                     struct.pack("IIII", FRAME_SIZE * FRAMES // 4, 4,
                                 FRAME_SIZE, FRAMES))
        ring = mmap.mmap(s.fileno(), FRAME_SIZE * FRAMES)
        try:
            for start in range(0, len(frames), FRAMES):
                batch = frames[start:start + FRAMES]
                for i, f in enumerate(batch):
                    o = i * FRAME_SIZE
                    ring[o + DATA_OFF:o + DATA_OFF + len(f)] = f
                    ring[o + 4:o + 8] = struct.pack("I", len(f))
                    ring[o:o + 4] = struct.pack("I", TP_STATUS_SEND_REQUEST)
                s.send(b"")  # blocks until the kernel sent every frame
                for i in range(len(batch)):
                    o = i * FRAME_SIZE
                    status, = struct.unpack("I", ring[o:o + 4])
                    assert status == TP_STATUS_AVAILABLE, \
                        "ring frame %d not sent (status %#x)" % (i, status)
        finally:
            ring.close()
    finally:
        s.close()


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(src, dst, payload_len, options=b""):
    ihl = 5 + len(options) // 4
    tot = ihl * 4 + 8 + payload_len
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst)) + options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    udp = struct.pack("!HHHH", 40000, SINK_PORT, 8 + payload_len, 0)
    return hdr + udp + bytes(payload_len), tot


def ipv6(src, dst, payload_len, hbh=False):
    ext = bytes([17, 0, 1, 4, 0, 0, 0, 0]) if hbh else b""  # PadN
    udp = struct.pack("!HHHH", 40000, SINK_PORT, 8 + payload_len, 0)
    plen = len(ext) + 8 + payload_len
    hdr = struct.pack("!IHBB16s16s", 6 << 28, plen, 0 if hbh else 17, 64,
                      socket.inet_pton(socket.AF_INET6, src),
                      socket.inet_pton(socket.AF_INET6, dst))
    return hdr + ext + udp + bytes(payload_len), 40 + plen


def tagged(tags, ethertype, payload):
    """The tags (TPID, VID) between the MAC addresses and the ethertype."""
    out = b""
    for tpid, vid in tags:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", ethertype) + payload


def shapes(dst_mac, src_mac, local4, local6, remote4, remote6, egress):
    """(frames, truth per remote address, malformed bytes, non-IP bytes)."""
    mac = (bytes.fromhex(dst_mac.replace(":", "")) +
           bytes.fromhex(src_mac.replace(":", "")))
    truth = {}
    frames = []

    def add(remote, frame, iplen):
        frames.append(frame)
        e = truth.setdefault(remote, [0, 0])
        e[0] += iplen
        e[1] += 1

    def pair4(remote):
        return (local4, remote) if egress else (remote, local4)

    def pair6(remote):
        return (local6, remote) if egress else (remote, local6)

    for n, size in enumerate((0, 1, 18, 100, 333, 1400)):
        r = remote4[n % 2]
        p, tot = ipv4(*pair4(r), size)
        add(r, mac + struct.pack("!H", 0x0800) + p, tot)
    p, tot = ipv4(*pair4(remote4[2]), 50, options=bytes([1, 1, 1, 0]) * 2)
    add(remote4[2], mac + struct.pack("!H", 0x0800) + p, tot)
    for n, size in enumerate((0, 7, 200, 1300)):
        p, tot = ipv6(*pair6(remote6[0]), size, hbh=n % 2 == 1)
        add(remote6[0], mac + struct.pack("!H", 0x86DD) + p, tot)
    p, tot = ipv4(*pair4(remote4[3]), 64)
    add(remote4[3], mac + tagged([(0x8100, 7)], 0x0800, p), tot)
    p, tot = ipv6(*pair6(remote6[1]), 64)
    add(remote6[1], mac + tagged([(0x88A8, 5), (0x8100, 7)], 0x86DD, p), tot)
    # 62 bytes, a bare IPv6 header (no next header) behind two tags: the
    # only header that ends past egress's 60-byte copy, so the program
    # pulls it in after all.
    p = struct.pack("!IHBB16s16s", 6 << 28, 0, 59, 64,
                    *(socket.inet_pton(socket.AF_INET6, a)
                      for a in pair6(remote6[1])))
    add(remote6[1], mac + tagged([(0x88A8, 5), (0x8100, 7)], 0x86DD, p), 40)
    bad = mac + struct.pack("!H", 0x0800) + b"\x45" + bytes(9)  # 24 bytes
    arp = mac + struct.pack("!H", 0x0806) + bytes(28)            # 42 bytes
    frames += [bad, arp]
    return frames, truth, len(bad), len(arp)


@pytest.mark.parametrize("gro", [False, True], ids=["gro_off", "gro_on"])
def test_nonlinear_frames_exact(topo, start_monitor, gro):
    t = topo
    if gro:
        # veth hands the peer's frames to the monitor's NAPI (and GRO)
        # only when the peer does not segment itself.
        e2e.sh("ip", "netns", "exec", t.pns, "ethtool", "-K", t.pif, "tso",
               "off", "gso", "off")
        e2e.sh("ip", "netns", "exec", t.mns, "ethtool", "-K", t.mif, "gro",
               "on")
    sinks = e2e.Sinks(t.mns, [t.MON4], SINK_PORT)
    try:
        mon = start_monitor(t, "-s", "0.2")
        others4 = ["10.77.9.%d" % i for i in range(1, 5)]
        others6 = ["fd77::9:1", "fd77::9:2"]
        tx, tx_truth, tx_bad, tx_arp = shapes(
            OTHERHOST, t.mmac, t.MON4, t.MON6, others4, others6, True)
        rx, rx_truth, rx_bad, rx_arp = shapes(
            OTHERHOST, t.pmac, t.MON4, t.MON6, others4, others6, False)
        # To the monitor's own MAC and a bound socket: the ingress program
        # looks the socket up by its ports, so it pulls the headers in.
        host = []
        for n, size in enumerate((3, 90, 700)):
            src = t.peer4[n % 2]
            p, tot = ipv4(src, t.MON4, size)
            host.append(bytes.fromhex((t.mmac + t.pmac).replace(":", "")) +
                        struct.pack("!H", 0x0800) + p)
            e = rx_truth.setdefault(src, [0, 0])
            e[0] += tot
            e[1] += 1
        want = {}
        rounds = 3
        for r in range(1, rounds + 1):
            ring_send(t.mns, t.mif, tx)
            ring_send(t.pns, t.pif, rx + host)
            t.wait_quiet(quiet_for=0.3)
            m = mon.scrape()
            for table, d in ((tx_truth, "tx"), (rx_truth, "rx")):
                for ip, (b, p) in table.items():
                    e = want.setdefault(ip, e2e.empty_counts())
                    e["%s_bytes" % d] = b * r
                    e["%s_packets" % d] = p * r
            assert m.per_ip() == want, "round %d" % r
            assert m.totals("malformed") == {
                "tx_bytes": tx_bad * r, "tx_packets": r,
                "rx_bytes": rx_bad * r, "rx_packets": r}, "round %d" % r
            assert m.totals("non_ip") == {
                "tx_bytes": tx_arp * r, "tx_packets": r,
                "rx_bytes": rx_arp * r, "rx_packets": r}, "round %d" % r
            assert m.totals("overflow") == e2e.empty_counts()
        # The frames left the program intact: the socket got them all.
        got = 0
        sock = sinks.socks[0]
        sock.setblocking(False)
        while True:
            try:
                sock.recv(2048)
            except BlockingIOError:
                break
            got += 1
        assert got == len(host) * rounds
    finally:
        sinks.close()
