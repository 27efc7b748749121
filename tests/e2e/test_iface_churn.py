# SPDX-License-Identifier: MIT
"""Interfaces that come and go (WireGuard, PPP, container veths).

The monitored veth is deleted while the monitor runs: it notices at once
(rtnetlink, not the next sample: the interval here is 30 s), says so once
on stderr and in ip_traffic_interface_attached.  A veth of the same name is
then created again: the programs are attached to it and counting goes on,
into the same totals, exactly (ground truth: the datagrams sent, received
by a sink so that nothing answers).  For tcx links and clsact filters."""

import time

import pytest

import itm_e2e as e2e

PORT = 5011


def _recreate(t):
    """The same veth pair, names and addresses, in the same namespaces."""
    e2e.sh("ip", "link", "add", t.mif, "netns", t.mns, "type", "veth",
           "peer", "name", t.pif, "netns", t.pns)
    for ns, dev in ((t.mns, t.mif), (t.pns, t.pif)):
        for key, val in (("addr_gen_mode", "1"), ("accept_ra", "0"),
                         ("router_solicitations", "0"),
                         ("dad_transmits", "0")):
            e2e.nsx(ns, "sysctl", "-q", "-w",
                    "net.ipv6.conf.%s.%s=%s" % (dev, key, val))
        e2e.nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off")
    e2e.nsx(t.mns, "ip", "addr", "add", t.MON4 + "/16", "dev", t.mif)
    e2e.nsx(t.pns, "ip", "addr", "add", t.peer4[0] + "/16", "dev", t.pif)
    t.mmac = t._mac(t.mns, t.mif)
    t.pmac = t._mac(t.pns, t.pif)
    e2e.nsx(t.mns, "ip", "neigh", "replace", t.peer4[0], "lladdr", t.pmac,
            "dev", t.mif, "nud", "permanent")
    e2e.nsx(t.pns, "ip", "neigh", "replace", t.MON4, "lladdr", t.mmac,
            "dev", t.pif, "nud", "permanent")
    e2e.nsx(t.mns, "ip", "link", "set", t.mif, "up")
    e2e.nsx(t.pns, "ip", "link", "set", t.pif, "up")


def _wait_for(pred, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def _state(mon, t):
    m = mon.scrape()
    return (int(m.value("ip_traffic_interface_attached", iface=t.mif)),
            int(m.value("ip_traffic_interface_reattached_total",
                        iface=t.mif)))


@pytest.mark.parametrize("mode", ["tcx", "clsact"])
def test_deleted_and_recreated_interface(topo, start_monitor, mode):
    t = topo
    args = ["-s", "30"] + (["--clsact"] if mode == "clsact" else [])
    mon = start_monitor(t, *args)
    assert "(%s)" % mode in mon.stderr(), mon.stderr()
    peer = t.peer4[0]

    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        before = e2e.udp_send(t.pns, peer, t.MON4, PORT, [100 + i for i in
                                                          range(200)])
    finally:
        sink.close()
    assert _state(mon, t) == (1, 0)

    e2e.nsx(t.mns, "ip", "link", "del", t.mif)
    took = _wait_for(lambda: "disappeared" in mon.stderr(), 5)
    assert took is not None, mon.stderr()
    # The gauge follows the log line at once (same loop iteration).
    assert _wait_for(lambda: _state(mon, t) == (0, 0), 5) is not None
    m = mon.scrape()
    assert m.per_ip()[peer]["rx_bytes"] == before[0]

    _recreate(t)
    back = _wait_for(lambda: "attached again" in mon.stderr(), 5)
    assert back is not None, mon.stderr()
    assert _wait_for(lambda: _state(mon, t) == (1, 1), 5) is not None
    if mode == "tcx":
        progs = t.tcx_programs()
        assert progs["ingress"] and progs["egress"], progs
    else:
        assert "0x1749" in t.tc_filters() or "1749" in t.tc_filters()

    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        after = e2e.udp_send(t.pns, peer, t.MON4, PORT, [50 + i for i in
                                                         range(500)])
    finally:
        sink.close()
    t.wait_quiet(quiet_for=0.3)
    m = mon.scrape()
    got = m.per_ip()[peer]
    print("%s: deletion noticed after %.3f s, re-attached %.3f s after "
          "creation; %d + %d packets" % (mode, took, back, before[1],
                                         after[1]))
    assert got["rx_bytes"] == before[0] + after[0]
    assert got["rx_packets"] == before[1] + after[1]
    assert got["tx_packets"] == 0
    assert mon.stderr().count("disappeared") == 1
    assert mon.stderr().count("attached again") == 1
    # It still stops cleanly (nothing left attached on the new device).
    assert mon.stop() == 0
    assert t.tcx_programs() == {"ingress": [], "egress": []}
    assert "1749" not in t.tc_filters()
