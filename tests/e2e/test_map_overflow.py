# SPDX-License-Identifier: MIT
"""A deliberately tiny kernel map (--map-size 4) with ten remote addresses
in one drain interval: what does not fit goes to the overflow counters, so
per-address sums + overflow still equal the ground truth exactly."""

import itm_e2e as e2e

PORT = 5003


def _round(t, sizes_seed):
    truth = {}
    for i, peer in enumerate(t.peers):
        sizes = [50 + sizes_seed + 13 * i, 700 + i, 1200 - i]
        b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT, sizes)
        e2e.add_counts(truth, peer, "tx", b, p)
        b, p = e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), PORT,
                            sizes[: 1 + i % 3])
        e2e.add_counts(truth, peer, "rx", b, p)
    return truth


def _check(m, truth):
    tot = e2e.sum_counts(truth)
    per_ip = m.per_ip()
    assert set(per_ip) <= set(truth), "unknown addresses %r" % (
        set(per_ip) - set(truth))
    for remote, c in per_ip.items():
        for k in c:
            assert c[k] <= truth[remote][k], (remote, k)
    overflow = m.totals("overflow")
    sums = e2e.sum_counts(per_ip)
    for k in tot:
        assert sums[k] + overflow[k] == tot[k], k
    assert m.totals("all") == tot
    return overflow


def test_tiny_map_overflow_exact(request):
    # Ten peer addresses: 8 IPv4 + 2 IPv6.
    t = e2e.Topology(extra_peer4=3)
    request.addfinalizer(t.teardown)
    t.setup()
    start_monitor = request.getfixturevalue("start_monitor")
    psinks = e2e.Sinks(t.pns, t.peers, PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    try:
        # One long interval: every address arrives before any drain.
        mon = start_monitor(t, "-s", "60", "--map-size", "4")
        truth = _round(t, 0)
        t.wait_quiet(quiet_for=0.3)
        m1 = mon.scrape()
        ov = _check(m1, truth)
        print("tiny map: %d addresses exported, overflow %r" % (
            len(m1.per_ip()), ov))
        assert ov["tx_packets"] > 0 and ov["rx_packets"] >= 0, \
            "10 addresses in a 4-entry map must overflow"
        assert len(m1.per_ip()) <= len(t.peers)

        # The scrape drained the map: a second round is exact again and
        # cumulative over both rounds.
        truth2 = _round(t, 5)
        t.wait_quiet(quiet_for=0.3)
        m2 = mon.scrape()
        both = {}
        for tr in (truth, truth2):
            for remote, c in tr.items():
                for d in ("tx", "rx"):
                    e2e.add_counts(both, remote, d, c[d + "_bytes"],
                                   c[d + "_packets"])
        ov2 = _check(m2, both)
        assert ov2["tx_packets"] >= ov["tx_packets"]
    finally:
        psinks.close()
        msinks.close()
