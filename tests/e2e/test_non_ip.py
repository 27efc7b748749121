# SPDX-License-Identifier: MIT
"""Frames that are not IP (ARP, LLDP ethertype) and truncated IP frames,
sent raw with AF_PACKET (through the qdisc layer, so TC egress sees them):
counted in the non-IP / malformed counters with their frame bytes, never
as per-address traffic."""

import itm_e2e as e2e


def test_non_ip_and_malformed_frames(topo, start_monitor):
    t = topo
    mon = start_monitor(t, "-s", "0.2")
    bcast = "ff:ff:ff:ff:ff:ff"
    arp = bytes(28)  # content is irrelevant to the counter
    tx = [e2e.eth_frame(bcast, t.mmac, 0x0806, arp),                    # 42
          e2e.eth_frame(bcast, t.mmac, 0x0806, arp + bytes(18)),        # 60
          e2e.eth_frame(bcast, t.mmac, 0x88CC, bytes(100))]             # 114
    rx = [e2e.eth_frame(t.mmac, t.pmac, 0x0806, arp)] * 3 + \
         [e2e.eth_frame(t.mmac, t.pmac, 0x88B5, bytes(50))]             # 3*42 + 64
    # IPv4 ethertype with 10 bytes of "header", IPv6 with 20
    bad_tx = [e2e.eth_frame(t.pmac, t.mmac, 0x0800, b"\x45" + bytes(9))]
    bad_rx = [e2e.eth_frame(t.mmac, t.pmac, 0x86DD, b"\x60" + bytes(19)),
              e2e.eth_frame(t.mmac, t.pmac, 0x0800, b"\x45" + bytes(9))]
    e2e.raw_send(t.mns, t.mif, tx + bad_tx)
    e2e.raw_send(t.pns, t.pif, rx + bad_rx)
    t.wait_quiet(quiet_for=0.3)
    m = mon.scrape()
    assert m.totals("non_ip") == {
        "tx_bytes": 42 + 60 + 114, "tx_packets": 3,
        "rx_bytes": 3 * 42 + 64, "rx_packets": 4}
    assert m.totals("malformed") == {
        "tx_bytes": 24, "tx_packets": 1,
        "rx_bytes": 34 + 24, "rx_packets": 2}
    assert m.per_ip() == {}
    assert m.totals("all") == e2e.empty_counts()
