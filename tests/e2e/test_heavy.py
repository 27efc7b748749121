# SPDX-License-Identifier: MIT
"""Heavy UDP floods in both directions while the loader drains the kernel
maps at 10 Hz (-s 0.1): no increment may be lost between a drain and the
next, none counted twice.

Ground truth:
- tx (monitor egress): datagrams the monitor-side senders handed to the
  stack (a veth has no qdisc, so every successful sendto() crossed egress).
- rx (monitor ingress): datagrams the peers sent, minus those the veth
  dropped before they reached the monitor's ingress (the peer veth's
  tx_dropped).  The per-address split of drops is unknown, so per address
  monitor <= sent, and the sum of the differences must equal the drops.
- Both directions also against the veth's own packet/byte counters."""

import itm_e2e as e2e

PORT = 5002
SECONDS = 4


def test_heavy_floods_10hz_drain_exact(topo, start_monitor):
    t = topo
    # Three IPv4 + one IPv6 peer, each direction its own process and size.
    flows_out = [(t.MON4, t.peer4[0], 64), (t.MON4, t.peer4[1], 700),
                 (t.MON4, t.peer4[2], 1472), (t.MON6, t.peer6[0], 333)]
    flows_in = [(t.peer4[0], t.MON4, 1000), (t.peer4[3], t.MON4, 90),
                (t.peer6[1], t.MON6, 1200)]
    psinks = e2e.Sinks(t.pns, t.peers, PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    try:
        mon = start_monitor(t, "-s", "0.1")
        mbefore = e2e.link_stats(t.mns, t.mif)
        pbefore = e2e.link_stats(t.pns, t.pif)
        kids = []
        for src, dst, size in flows_out:
            kids.append(("tx", dst, size, e2e.Forked(
                t.mns, e2e.flood_udp, src, dst, PORT, size, SECONDS)))
        for src, dst, size in flows_in:
            kids.append(("rx", src, size, e2e.Forked(
                t.pns, e2e.flood_udp, src, dst, PORT, size, SECONDS)))
        sent = [(d, remote, size, k.wait(SECONDS + 60))
                for d, remote, size, k in kids]
        t.wait_quiet(quiet_for=0.5)
        mafter = e2e.link_stats(t.mns, t.mif)
        pafter = e2e.link_stats(t.pns, t.pif)
        m = mon.scrape()
    finally:
        psinks.close()
        msinks.close()

    truth = {}
    for d, remote, size, n in sent:
        e2e.add_counts(truth, remote, d, n * (size + e2e.ip_overhead(remote)),
                       n)
    got = m.per_ip()
    assert set(got) == set(truth)
    tot = e2e.sum_counts(truth)
    npk = tot["tx_packets"] + tot["rx_packets"]
    assert npk > 100000, "too little traffic to be a heavy test: %d" % npk

    # tx: exact per address
    for remote, c in truth.items():
        assert got[remote]["tx_bytes"] == c["tx_bytes"], remote
        assert got[remote]["tx_packets"] == c["tx_packets"], remote

    md = e2e.stats_delta(mbefore, mafter)
    pd = e2e.stats_delta(pbefore, pafter)
    print("heavy: tx %d pkts, rx %d pkts sent; veth drops: ours %d, peer %d"
          % (tot["tx_packets"], tot["rx_packets"], md["tx"]["dropped"],
             pd["tx"]["dropped"]))
    # rx: what the peer veth delivered (drops happen before our ingress).
    drops = pd["tx"]["dropped"]
    lost_p = lost_b = 0
    for remote, c in truth.items():
        assert got[remote]["rx_packets"] <= c["rx_packets"], remote
        lost_p += c["rx_packets"] - got[remote]["rx_packets"]
        lost_b += c["rx_bytes"] - got[remote]["rx_bytes"]
    assert lost_p == drops, "rx lost %d packets but veth dropped %d" % (
        lost_p, drops)
    if drops == 0:
        for remote, c in truth.items():
            assert got[remote]["rx_bytes"] == c["rx_bytes"], remote

    all_ = m.totals("all")
    assert all_ == e2e.sum_counts(got)
    assert m.totals("overflow") == e2e.empty_counts()
    # rx: the monitor veth's rx counters are what its peer delivered.
    assert md["rx"]["packets"] == all_["rx_packets"]
    assert md["rx"]["bytes"] == all_["rx_bytes"] + 14 * all_["rx_packets"]
    # tx: egress saw every frame, including those the veth then dropped.
    assert md["tx"]["packets"] + md["tx"]["dropped"] == all_["tx_packets"]
    if md["tx"]["dropped"] == 0:
        assert md["tx"]["bytes"] == (all_["tx_bytes"] +
                                     14 * all_["tx_packets"])
