# SPDX-License-Identifier: MIT
"""-t BYTES: an address is exported once its tx+rx bytes reach BYTES and
stays exported; below-threshold traffic is still in ip_traffic_all_*."""

import itm_e2e as e2e

PORT = 5007


def test_threshold_hides_then_sticks(topo, start_monitor):
    t = topo
    small, big = t.peer4[0], t.peer6[0]
    sinks = e2e.Sinks(t.pns, t.peers, PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    try:
        mon = start_monitor(t, "-s", "0.2", threshold="10000")
        truth = {}

        def send(peer, tx_sizes, rx_sizes):
            b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT,
                                tx_sizes)
            e2e.add_counts(truth, peer, "tx", b, p)
            if rx_sizes:
                b, p = e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), PORT,
                                    rx_sizes)
                e2e.add_counts(truth, peer, "rx", b, p)

        send(small, [1000] * 4, [1000] * 3)        # 7196 bytes < 10000
        send(big, [1400] * 6, [1400] * 2)          # 11584 >= 10000
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape()
        assert m.per_ip() == {big: truth[big]}
        assert m.totals("all") == e2e.sum_counts(truth)
        assert m.exact("ip_traffic_tracked_addresses") == 2
        assert m.exact("ip_traffic_exported_addresses") == 1

        # exactly reach the threshold: 10000 - 7196 = 2804 = 1428 + 1376
        send(small, [1400, 1348], [])
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape()
        assert truth[small]["tx_bytes"] + truth[small]["rx_bytes"] == 10000
        assert m.per_ip() == truth   # full cumulative counts, not the rest
        assert m.exact("ip_traffic_exported_addresses") == 2

        # no more traffic: still exported (sticky)
        for _ in range(3):
            m = mon.scrape()
            assert m.per_ip() == truth
        assert m.totals("all") == e2e.sum_counts(truth)
    finally:
        sinks.close()
        msinks.close()
