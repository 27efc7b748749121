# SPDX-License-Identifier: MIT
"""A deliberately tiny kernel map (--map-size 4) with ten remote addresses
in one drain interval: what does not fit goes to the overflow counters, so
per-address sums + overflow still equal the ground truth exactly.  And the
map fill gauge, exact, up to the shipped "map near full" alert."""

import os
import time

import pytest

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


def _ten_peers(request):
    """Ten peer addresses (8 IPv4 + 2 IPv6) with UDP sinks on both sides:
    (topology, start_monitor, peer sinks, monitor sinks)."""
    t = e2e.Topology(extra_peer4=3)
    request.addfinalizer(t.teardown)
    t.setup()
    start_monitor = request.getfixturevalue("start_monitor")
    return (t, start_monitor, e2e.Sinks(t.pns, t.peers, PORT),
            e2e.Sinks(t.mns, t.mon_addrs, PORT))


def test_tiny_map_overflow_exact(request):
    t, start_monitor, psinks, msinks = _ten_peers(request)
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
        ov2 = _check(m2, e2e.merge_counts(truth, truth2))
        assert ov2["tx_packets"] >= ov["tx_packets"]
    finally:
        psinks.close()
        msinks.close()


@pytest.mark.parametrize("db", [False, True], ids=["memory", "db"])
def test_map_fill_exact_and_near_full_alert(request, tmp_path, db):
    """ip_traffic_map_entries counts the slots exactly (five addresses in
    one drain interval: 5 of 8), reaches ip_traffic_map_capacity when ten
    addresses overflow the map, and then the shipped IpTrafficMapNearFull
    expression returns that interface in a real Prometheus, which holds
    the alert pending.  The same through --db (persist.c reads the maps
    before it deletes them)."""
    from test_promql import (EXPORTER_PORT, MON_DIR, Prometheus,
                             base_config, rule_expressions)

    t, start_monitor, psinks, msinks = _ten_peers(request)
    prom = None
    try:
        # No process attribution: one key per remote address.  One long
        # interval: only the scrapes below drain.
        extra = ["--db", str(tmp_path / "fill.db")] if db else []
        mon = start_monitor(t, "-s", "60", "--map-size", "8", "--no-pid",
                            *extra, port=EXPORTER_PORT)
        m0 = mon.scrape()
        assert m0.value("ip_traffic_map_entries", iface=t.mif) == 0.0
        assert m0.exact("ip_traffic_map_capacity", iface=t.mif) == 8

        five = t.peer4[:3] + t.peer6
        truth = {}
        for i, peer in enumerate(five):
            b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT,
                                [100 + i, 900])
            e2e.add_counts(truth, peer, "tx", b, p)
            b, p = e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), PORT,
                                [300 + i])
            e2e.add_counts(truth, peer, "rx", b, p)
        t.wait_quiet(quiet_for=0.3)
        m1 = mon.scrape()
        assert m1.per_ip() == truth
        assert m1.exact("ip_traffic_map_entries", iface=t.mif) == len(five)
        assert m1.exact("ip_traffic_map_capacity", iface=t.mif) == 8
        assert m1.totals("overflow") == e2e.empty_counts()

        # Ten addresses into the emptied map: eight slots, the rest
        # overflows, and the fill is the capacity.
        truth2 = _round(t, 7)
        t.wait_quiet(quiet_for=0.3)
        m2 = mon.scrape()
        ov = _check(m2, e2e.merge_counts(truth, truth2))
        assert ov["tx_packets"] > 0, ov
        assert m2.exact("ip_traffic_map_entries", iface=t.mif) == 8
        print("map fill: 5 addresses -> %d/8, 10 -> %d/8, overflow %r" % (
            m1.exact("ip_traffic_map_entries", iface=t.mif),
            m2.exact("ip_traffic_map_entries", iface=t.mif), ov))

        # The shipped alert, in a real Prometheus scraping the monitor
        # (its scrapes drain empty maps; the interval's peak is held).
        prom = Prometheus(t.mns, str(tmp_path), base_config())
        alert = dict(rule_expressions(os.path.join(
            MON_DIR, "prometheus", "ip_traffic_alerts.yml")))
        expr = alert["IpTrafficMapNearFull"]
        target = {"job": "ip_traffic_monitor",
                  "instance": "127.0.0.1:%d" % EXPORTER_PORT}
        deadline = time.monotonic() + 60
        while True:
            now = time.time()
            got = prom.query(expr, now)
            firing = [a for a in prom.api("alerts")["alerts"]
                      if a["labels"]["alertname"] == "IpTrafficMapNearFull"]
            if got and firing:
                break
            assert time.monotonic() < deadline, (got, firing,
                                                 prom.logtext())
            time.sleep(0.5)
        assert got == [(dict(target, iface=t.mif), 1.0)], got
        assert [(a["labels"]["iface"], a["state"]) for a in firing] == [
            (t.mif, "pending")], firing
        assert prom.query("ip_traffic_map_entries", now) == [
            (dict(target, __name__="ip_traffic_map_entries", iface=t.mif),
             8.0)]
    finally:
        psinks.close()
        msinks.close()
        if prom:
            prom.close()
