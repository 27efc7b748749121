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
