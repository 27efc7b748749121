# SPDX-License-Identifier: MIT
"""UDP and TCP in both directions with every peer address: the scraped
per-address counters equal the ground truth byte for byte.

Ground truth: UDP from what the generator handed to the stack, TCP from a
packet capture on the monitored veth (cross-checked against the UDP truth);
totals also against the veth's own tx/rx counters."""

import itm_e2e as e2e

UDP_PORT = 5001
TCP_PORT = 7001


def _udp_sizes(i, peer):
    # Distinct sizes per address, from tiny to a full 1500-byte MTU.
    base = [1, 17, 100, 512, 999, 1400]
    return [s + i for s in base] + [1452 if ":" in peer else 1472]


def test_udp_tcp_both_directions_exact(topo, start_monitor, tmp_path):
    t = topo
    peer_sinks = e2e.Sinks(t.pns, t.peers, UDP_PORT)
    mon_sinks = e2e.Sinks(t.mns, t.mon_addrs, UDP_PORT)
    try:
        mon = start_monitor(t, "-s", "0.5")
        before = e2e.link_stats(t.mns, t.mif)
        cap = e2e.Capture(t.mns, t.mif, str(tmp_path / "traffic.pcap"))

        udp_truth = {}
        for i, peer in enumerate(t.peers):
            local = t.mon_addr_for(peer)
            sizes = _udp_sizes(i, peer)
            b, p = e2e.udp_send(t.mns, local, peer, UDP_PORT, sizes)
            e2e.add_counts(udp_truth, peer, "tx", b, p)
            b, p = e2e.udp_send(t.pns, peer, local, UDP_PORT,
                                list(reversed(sizes))[: 3 + i])
            e2e.add_counts(udp_truth, peer, "rx", b, p)

        # Datagrams larger than the MTU leave as IP fragments: their truth
        # comes from the capture (each fragment is a wire packet).
        for peer in (t.peer4[0], t.peer6[1]):
            local = t.mon_addr_for(peer)
            e2e.udp_send(t.mns, local, peer, UDP_PORT, [3000, 1473])
            e2e.udp_send(t.pns, peer, local, UDP_PORT, [4000])

        for i, peer in enumerate(t.peers):
            local = t.mon_addr_for(peer)
            # monitor host is the client, then the server
            e2e.TcpPeer(t.pns, peer, t.mns, local, TCP_PORT + i,
                        20000 + 1111 * i, 3000 + 7 * i).run()
            e2e.TcpPeer(t.mns, local, t.pns, peer, TCP_PORT + 100 + i,
                        500 + i, 40000 + 999 * i).run()

        t.wait_quiet(quiet_for=0.5)
        cap.stop()
        after = e2e.link_stats(t.mns, t.mif)
        m = mon.scrape()
    finally:
        peer_sinks.close()
        mon_sinks.close()

    ip, non_ip = e2e.parse_pcap(str(tmp_path / "traffic.pcap"), [t.mmac])
    # The capture must agree with the UDP generator (validates the capture).
    pcap_udp = {}
    for (d, remote, proto), (b, p) in ip.items():
        if proto == 17:
            e2e.add_counts(pcap_udp, remote, d, b, p)
    assert pcap_udp == udp_truth

    assert any(k[2] == "frag" for k in ip), "no IP fragments captured"
    expected = {}
    for remote, c in udp_truth.items():
        for d in ("tx", "rx"):
            e2e.add_counts(expected, remote, d, c[d + "_bytes"],
                           c[d + "_packets"])
    for (d, remote, proto), (b, p) in ip.items():
        if proto != 17:
            e2e.add_counts(expected, remote, d, b, p)
    assert set(expected) == set(t.peers), "unexpected talkers: %r" % expected
    assert non_ip == {"tx": [0, 0], "rx": [0, 0]}

    got = m.per_ip()
    assert got == expected

    tot = e2e.sum_counts(expected)
    assert m.totals("all") == tot
    assert m.totals("overflow") == e2e.empty_counts()
    assert m.totals("non_ip") == e2e.empty_counts()
    assert m.totals("malformed") == e2e.empty_counts()
    assert m.exact("ip_traffic_tracked_addresses") == len(t.peers)
    assert m.exact("ip_traffic_exported_addresses") == len(t.peers)

    # Interface counters: frame bytes = IP bytes + 14 per frame (+ non-IP).
    d = e2e.stats_delta(before, after)
    for dr in ("tx", "rx"):
        assert d[dr]["packets"] == tot[dr + "_packets"], dr
        assert d[dr]["bytes"] == tot[dr + "_bytes"] + 14 * tot[dr + "_packets"]


def test_veth_counter_crosscheck_with_arp(topo_arp, start_monitor):
    """No static neighbours: ARP and ND run.  ARP frames appear in the
    non-IP counters, and tx per-IP + 14/frame + non-IP == veth tx bytes."""
    t = topo_arp
    sinks = e2e.Sinks(t.pns, t.peers, UDP_PORT)
    try:
        mon = start_monitor(t, "-s", "0.2")
        before = e2e.link_stats(t.mns, t.mif)
        truth = {}
        for peer in t.peers:
            b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, UDP_PORT,
                                [200, 300])
            e2e.add_counts(truth, peer, "tx", b, p)
        t.wait_quiet(quiet_for=0.5)
        after = e2e.link_stats(t.mns, t.mif)
        m = mon.scrape()
    finally:
        sinks.close()
    d = e2e.stats_delta(before, after)
    got = m.per_ip()
    for peer in t.peers:
        assert got[peer]["tx_bytes"] == truth[peer]["tx_bytes"], peer
        assert got[peer]["tx_packets"] == truth[peer]["tx_packets"], peer
    all_ = m.totals("all")
    non_ip = m.totals("non_ip")
    # At least one ARP request went out for the IPv4 peers.
    assert non_ip["tx_packets"] >= 1
    assert non_ip["tx_bytes"] >= 42 * non_ip["tx_packets"]
    for dr in ("tx", "rx"):
        assert d[dr]["packets"] == (all_[dr + "_packets"] +
                                    non_ip[dr + "_packets"]), dr
        assert d[dr]["bytes"] == (all_[dr + "_bytes"] +
                                  14 * all_[dr + "_packets"] +
                                  non_ip[dr + "_bytes"]), dr
