# SPDX-License-Identifier: MIT
"""Several interfaces in one run (-i a,b and -i a -i b): both attached and
pinned, per-address counts exact over both, per-interface counters labelled,
everything detached at the end."""

import os

import pytest

import itm_e2e as e2e

from test_lifecycle import assert_nothing_attached

PORT = 5008
MON2, PEER2 = "10.78.0.1", "10.78.0.11"


@pytest.mark.parametrize("form", ["comma", "repeat"])
def test_two_interfaces(topo, start_monitor, pin_base, form):
    t = topo
    t.add_pair("itm1m", "itm1p", MON2, PEER2)
    ifaces = ([t.mif + ",itm1m"] if form == "comma" else [t.mif, "itm1m"])
    sinks = e2e.Sinks(t.pns, t.peers + [PEER2], PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs + [MON2], PORT)
    try:
        mon = start_monitor(t, "-s", "0.2", ifaces=ifaces)
        for dev in (t.mif, "itm1m"):
            assert len(t.attached_programs(dev=dev)) == 2, dev
            pdir = os.path.join(pin_base, t.instance(dev))
            assert "itm_stats_a" in os.listdir(pdir), pdir
        truth = {}
        for peer, local in ((t.peer4[0], t.MON4), (t.peer6[0], t.MON6),
                            (PEER2, MON2)):
            b, p = e2e.udp_send(t.mns, local, peer, PORT, [10, 1000, 1452])
            e2e.add_counts(truth, peer, "tx", b, p)
            b, p = e2e.udp_send(t.pns, peer, local, PORT, [99, 1300])
            e2e.add_counts(truth, peer, "rx", b, p)
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape()
    finally:
        sinks.close()
        msinks.close()
    assert m.per_ip() == truth
    assert m.totals("all") == e2e.sum_counts(truth)
    for fam in ("overflow", "non_ip", "malformed"):
        labels = {lab.get("iface") for lab, _ in
                  m.all("ip_traffic_%s_tx_bytes_total" % fam)}
        assert labels == {t.mif, "itm1m"}, (fam, labels)
    assert mon.stop() == 0, mon.stderr()
    assert_nothing_attached(t, pin_base)
    for dev in (t.mif, "itm1m"):
        assert t.attached_programs(dev=dev) == [], dev
        assert t.tc_filters(dev=dev).strip() == "", dev


def test_iface_label(topo, start_monitor):
    """--iface-label: one series per (interface, address), the same remote
    address on both interfaces included (spoofed frames from SHARED into
    each veth); each interface's series sum to its veth counters (IP
    bytes: the frame bytes minus 14 a frame), every pair exact."""
    from test_nonreading_clients import IP4_LEN, SINK_PORT, _send_frames
    import ipaddress

    t = topo
    t.add_pair("itm1m", "itm1p", MON2, PEER2)
    shared = ipaddress.IPv4Address("10.99.0.5")
    sinks = e2e.Sinks(t.pns, t.peers + [PEER2], PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs + [MON2], PORT)
    fsinks = e2e.Sinks(t.mns, [t.MON4, MON2], SINK_PORT)
    links = ((t.mif, t.pif, t.MON4), ("itm1m", "itm1p", MON2))
    try:
        mon = start_monitor(t, "-s", "0.2", "--iface-label",
                            ifaces=[t.mif, "itm1m"])
        t.wait_quiet(quiet_for=0.3)
        before = {dev: e2e.link_stats(t.mns, dev) for dev, _, _ in links}
        truth = {t.mif: {}, "itm1m": {}}
        for dev, peer, local in ((t.mif, t.peer4[0], t.MON4),
                                 (t.mif, t.peer6[0], t.MON6),
                                 ("itm1m", PEER2, MON2)):
            b, p = e2e.udp_send(t.mns, local, peer, PORT, [10, 1000, 1452])
            e2e.add_counts(truth[dev], peer, "tx", b, p)
            b, p = e2e.udp_send(t.pns, peer, local, PORT, [99, 1300])
            e2e.add_counts(truth[dev], peer, "rx", b, p)
        for (dev, pdev, local), n in zip(links, (3, 2)):
            mmac = t._mac(t.mns, dev)
            pmac = t._mac(t.pns, pdev)
            sent = e2e.Forked(t.pns, _send_frames, pdev,
                              bytes.fromhex(mmac.replace(":", "")),
                              bytes.fromhex(pmac.replace(":", "")), local,
                              t.MON6, [shared] * n).wait(timeout=60)
            assert sent == n
            e2e.add_counts(truth[dev], str(shared), "rx", n * IP4_LEN, n)
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape()
        after = {dev: e2e.link_stats(t.mns, dev) for dev, _, _ in links}
    finally:
        sinks.close()
        msinks.close()
        fsinks.close()
    got = {t.mif: {}, "itm1m": {}}
    for d in ("tx", "rx"):
        for u in ("bytes", "packets"):
            for lab, v in m.all("ip_traffic_%s_%s_total" % (d, u)):
                assert set(lab) == {"remote_ip", "iface", "country",
                                    "province", "city", "isp", "asn"}, lab
                e = got[lab["iface"]].setdefault(lab["remote_ip"], {
                    "tx_bytes": 0, "tx_packets": 0, "rx_bytes": 0,
                    "rx_packets": 0})
                assert "%s_%s" % (d, u) not in e or not e["%s_%s" % (d, u)]
                e["%s_%s" % (d, u)] = int(v)
    assert got == truth
    assert str(shared) in got[t.mif] and str(shared) in got["itm1m"]
    for dev, _, _ in links:
        delta = e2e.stats_delta(before[dev], after[dev])
        s = e2e.sum_counts(got[dev])
        for d in ("tx", "rx"):
            assert s["%s_packets" % d] == delta[d]["packets"], (dev, d)
            assert s["%s_bytes" % d] == \
                delta[d]["bytes"] - 14 * delta[d]["packets"], (dev, d)
    # The totals beside them still add up: all = series + below + evicted.
    assert m.totals("all") == e2e.sum_counts(merge_ifaces(got))
    assert mon.stop() == 0, mon.stderr()


def merge_ifaces(by_iface):
    out = {}
    for table in by_iface.values():
        for ip, c in table.items():
            e = out.setdefault(ip, dict.fromkeys(c, 0))
            for k, v in c.items():
                e[k] += v
    return out
