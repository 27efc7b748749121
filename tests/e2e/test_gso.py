# SPDX-License-Identifier: MIT
"""UDP GSO (UDP_SEGMENT) with TSO/GSO left on: the TC hook sees one
super-packet, the counters must show the wire packets it stands for:
ceil(N/S) packets and N + packets * (8 + IP header) bytes."""

import socket

import itm_e2e as e2e

SOL_UDP = 17
UDP_SEGMENT = 103
PORT = 5004

# (payload bytes N, gso_size S)
CASES = [(20000, 1400), (14000, 1400), (60000, 1000), (1401, 1400),
         (5000, 1200)]


def _send_gso(ns, src, dst, cases):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = e2e.ns_socket(ns, fam, socket.SOCK_DGRAM)
    truth_b = truth_p = 0
    try:
        s.bind((src, 0))
        for n, seg in cases:
            s.setsockopt(SOL_UDP, UDP_SEGMENT, seg)
            assert s.sendto(b"g" * n, (dst, PORT)) == n
            segs = -(-n // seg)
            truth_p += segs
            truth_b += n + segs * e2e.ip_overhead(dst)
    finally:
        s.close()
    return truth_b, truth_p


def test_udp_gso_counts_segments(topo_offload, start_monitor):
    t = topo_offload
    peers = [t.peer4[0], t.peer4[1], t.peer6[0]]
    psinks = e2e.Sinks(t.pns, peers, PORT, rcvbuf=4 << 20)
    msinks = e2e.Sinks(t.mns, t.mon_addrs, PORT, rcvbuf=4 << 20)
    try:
        mon = start_monitor(t, "-s", "0.5")
        truth = {}
        for i, peer in enumerate(peers):
            local = t.mon_addr_for(peer)
            cases = CASES[i:] + CASES[:i]
            b, p = _send_gso(t.mns, local, peer, cases)     # egress
            e2e.add_counts(truth, peer, "tx", b, p)
            b, p = _send_gso(t.pns, peer, local, cases[:3])  # ingress
            e2e.add_counts(truth, peer, "rx", b, p)
        t.wait_quiet(quiet_for=0.5)
        m = mon.scrape()
    finally:
        psinks.close()
        msinks.close()
    assert m.per_ip() == truth
    assert m.totals("all") == e2e.sum_counts(truth)
