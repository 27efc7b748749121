# SPDX-License-Identifier: MIT
"""IPFIX export checked by real collectors: nfcapd/nfdump and pmacct's
nfacctd over UDP, python3-ipfix over TCP.  The collectors run on loopback
inside the monitor's namespace (the export never touches the monitored
veth); the traffic goes between the two test namespaces.  The per-address
sums each collector keeps must equal the generator's ground truth byte
for byte, IPv4 and IPv6, tx and rx, across several flushes; a collector
that is down loses exactly what was flushed meanwhile, and the monitor's
own counters lose nothing."""

import time

import flow_collectors as fc
import itm_e2e as e2e

UDP_PORT = 5001
IPFIX_PORT = 4739
FLUSH = "0.3"  # --ipfix-interval: several flushes per test


def _sizes(i, r, peer):
    big = 1452 if ":" in peer else 1472
    return [1 + i + r, 200 + 17 * i, 999, big]


def _traffic(t, rounds=3, pause=0.35, seed=0):
    """UDP both ways with every peer, spread over several flushes."""
    truth = {}
    for r in range(rounds):
        for i, peer in enumerate(t.peers):
            local = t.mon_addr_for(peer)
            b, p = e2e.udp_send(t.mns, local, peer, UDP_PORT,
                                _sizes(i, r + seed, peer))
            e2e.add_counts(truth, peer, "tx", b, p)
            b, p = e2e.udp_send(t.pns, peer, local, UDP_PORT,
                                _sizes(i, r + seed, peer)[: 1 + (i + r) % 3])
            e2e.add_counts(truth, peer, "rx", b, p)
        time.sleep(pause)
    return truth


def _ifindex(ns, dev):
    return int(e2e.nsx(ns, "cat", "/sys/class/net/%s/ifindex" % dev)
               .stdout)


class _Peers:
    """UDP sinks on both sides, so no ICMP unreachable is counted."""

    def __init__(self, t):
        self.a = e2e.Sinks(t.pns, t.peers, UDP_PORT)
        self.b = e2e.Sinks(t.mns, t.mon_addrs, UDP_PORT)

    def close(self):
        self.a.close()
        self.b.close()


def _ipfix_args(port=IPFIX_PORT, *extra):
    return ("-s", "0.1", "--ipfix", "127.0.0.1:%d" % port,
            "--ipfix-interval", FLUSH) + extra


def test_nfcapd_per_address_sums_exact(topo, start_monitor, tmp_path):
    t = topo
    nf = fc.Nfcapd(t.mns, IPFIX_PORT, str(tmp_path / "nfcapd")).start()
    peers = _Peers(t)
    try:
        mon = start_monitor(t, *_ipfix_args(IPFIX_PORT, "--ipfix-domain",
                                            "4242"))
        truth = _traffic(t)
        # Non-IP and malformed frames: exported as aggregate records.
        bcast = "ff:ff:ff:ff:ff:ff"
        e2e.raw_send(t.mns, t.mif, [e2e.eth_frame(bcast, t.mmac, 0x0806, bytes(28)),
                                 e2e.eth_frame(bcast, t.mmac, 0x88CC, bytes(100))])
        e2e.raw_send(t.pns, t.pif, [e2e.eth_frame(t.mmac, t.pmac, 0x0800,
                                      b"\x45" + bytes(9))])
        t.wait_quiet(quiet_for=0.5)
        m = mon.scrape()
        assert mon.stop() == 0
    finally:
        peers.close()
        nf.stop()

    assert m.per_ip() == truth  # the monitor itself is exact
    recs = nf.records()
    assert fc.sum_records(recs) == truth, nf.log()
    ifindex = _ifindex(t.mns, t.mif)
    per_addr = [r for r in recs if r["remote"]]
    # Several flushes: every address has more than one record.
    for peer in t.peers:
        assert len([r for r in per_addr if r["remote"] == peer]) >= 2, peer
    # The observation domain travels in the message header.
    assert "Observation domain 4242 from: 127.0.0.1" in nf.log()
    for r in per_addr:
        if r["dir"] == "tx":
            assert (r["in"], r["out"]) == (0, ifindex), r
        else:
            assert (r["in"], r["out"]) == (ifindex, 0), r
    # Aggregates: nfdump keeps them as address-less flows (shown as
    # 0.0.0.0); their sums equal the monitor's non-IP + malformed counters.
    other = [r for r in recs if r["remote"] is None]
    agg = {"tx": [0, 0], "rx": [0, 0]}
    for r in other:
        agg[r["dir"]][0] += r["bytes"]
        agg[r["dir"]][1] += r["packets"]
    mon_agg = {"tx": [0, 0], "rx": [0, 0]}
    for kind in ("non_ip", "malformed", "overflow"):
        c = m.totals(kind)
        for d in ("tx", "rx"):
            mon_agg[d][0] += c[d + "_bytes"]
            mon_agg[d][1] += c[d + "_packets"]
    assert mon_agg == {"tx": [42 + 114, 2], "rx": [24, 1]}
    assert agg == mon_agg
    assert "0 records not delivered" in mon.stderr()


def test_nfacctd_per_address_sums_exact(topo, start_monitor, tmp_path):
    t = topo
    port = IPFIX_PORT + 1
    nf = fc.Nfacctd(t.mns, port, str(tmp_path / "nfacctd")).start()
    peers = _Peers(t)
    try:
        mon = start_monitor(t, *_ipfix_args(port))
        truth = _traffic(t)
        t.wait_quiet(quiet_for=0.5)
        assert mon.stop() == 0
        # The print plugin writes its cache every second and on exit.
        time.sleep(1.5)
    finally:
        peers.close()
        nf.stop()
    recs = [r for r in nf_records_retry(nf)]
    assert fc.sum_records(recs) == truth, nf.log()


def nf_records_retry(nf, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        recs = nf.records()
        if recs or time.monotonic() > deadline:
            return recs
        time.sleep(0.2)


def test_udp_collector_down_then_back(topo, start_monitor, tmp_path):
    """Nothing listens at first: the monitor counts on, warns once, and
    the records flushed meanwhile are lost (UDP); once nfcapd listens,
    the templates go out again at the next flush and everything after is
    exact."""
    t = topo
    nf = fc.Nfcapd(t.mns, IPFIX_PORT, str(tmp_path / "nfcapd"))
    peers = _Peers(t)
    try:
        mon = start_monitor(t, *_ipfix_args())
        lost = _traffic(t, rounds=2)
        time.sleep(1.2)  # several flushes into the void
        assert mon.stderr().count("IPFIX collector") == 1, mon.stderr()
        nf.start()
        kept = _traffic(t, rounds=3, seed=5)
        t.wait_quiet(quiet_for=0.5)
        m = mon.scrape()
        assert mon.stop() == 0
    finally:
        peers.close()
        nf.stop()
    # local counters: complete
    assert m.per_ip() == e2e.merge_counts(lost, kept)
    assert fc.sum_records(nf.records()) == kept, nf.log()
    err = mon.stderr()
    assert err.count("IPFIX collector") == 1, err
    assert "refused" in err


def test_tcp_export_and_reconnect(topo, start_monitor):
    """IPFIX over TCP (python3-ipfix collector): exact while connected;
    dropped connection and refused reconnects are logged once; after the
    collector returns, a new connection starts with the templates and
    carries what was flushed while it was away."""
    t = topo
    col = fc.TcpIpfixCollector(t.mns, IPFIX_PORT).start()
    peers = _Peers(t)
    try:
        mon = start_monitor(t, *_ipfix_args(IPFIX_PORT, "--ipfix-transport",
                                            "tcp"))
        first = _traffic(t, rounds=2)
        time.sleep(1.0)
        col.stop()
        time.sleep(0.6)
        lost = _traffic(t, rounds=2, seed=3)
        time.sleep(1.2)  # the dead connection fails, reconnects refused
        col.start()
        deadline = time.monotonic() + 10
        while col.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert col.connections == 2, mon.stderr()
        last = _traffic(t, rounds=2, seed=7)
        t.wait_quiet(quiet_for=0.5)
        m = mon.scrape()
        assert mon.stop() == 0
        col.join()
    finally:
        peers.close()
        col.stop()
    assert not col.errors, col.errors
    assert m.per_ip() == e2e.merge_counts(first, lost, last)
    # What was flushed while it was away waits for it (TCP knows).
    assert fc.sum_records(col.records()) == \
        e2e.merge_counts(first, lost, last)
    err = mon.stderr()
    print(err)
    assert err.count("IPFIX collector") == 2, err  # one warning, one "again"
    assert "connected again" in err
    assert "0 records not delivered" in err


def test_nfcapd_exact_with_db(topo, start_monitor, tmp_path):
    """With --db the drains go through the store's commit protocol; the
    exporter gets the same deltas the database does."""
    t = topo
    nf = fc.Nfcapd(t.mns, IPFIX_PORT, str(tmp_path / "nfcapd")).start()
    peers = _Peers(t)
    try:
        mon = start_monitor(t, *_ipfix_args(), "--db",
                            str(tmp_path / "traffic.db"))
        truth = _traffic(t)
        e2e.raw_send(t.mns, t.mif, [e2e.eth_frame("ff:ff:ff:ff:ff:ff", t.mmac, 0x0806,
                                      bytes(28))])
        t.wait_quiet(quiet_for=0.5)
        m = mon.scrape()
        assert mon.stop() == 0
    finally:
        peers.close()
        nf.stop()
    assert m.per_ip() == truth
    assert fc.sum_records(nf.records()) == truth, nf.log()
    assert "0 records not delivered" in mon.stderr()

    # A second run continues the totals from the database; what it
    # restores was exported by the first run and is not sent again.
    nf2 = fc.Nfcapd(t.mns, IPFIX_PORT, str(tmp_path / "nfcapd2")).start()
    peers = _Peers(t)
    try:
        mon2 = start_monitor(t, *_ipfix_args(), "--db",
                             str(tmp_path / "traffic.db"))
        truth2 = _traffic(t, rounds=2, seed=4)
        t.wait_quiet(quiet_for=0.5)
        m2 = mon2.scrape()
        assert mon2.stop() == 0
    finally:
        peers.close()
        nf2.stop()
    assert m2.per_ip() == e2e.merge_counts(truth, truth2)
    recs = nf2.records()
    assert fc.sum_records(recs) == truth2, nf2.log()
    # Aggregates: only what this run counted (the restored part is not
    # new), i.e. the growth of the monitor's own counters.
    agg = {"tx": [0, 0], "rx": [0, 0]}
    for r in recs:
        if r["remote"] is None:
            agg[r["dir"]][0] += r["bytes"]
            agg[r["dir"]][1] += r["packets"]
    grown = {"tx": [0, 0], "rx": [0, 0]}
    for kind in ("non_ip", "malformed", "overflow"):
        a, b = m.totals(kind), m2.totals(kind)
        for d in ("tx", "rx"):
            grown[d][0] += b[d + "_bytes"] - a[d + "_bytes"]
            grown[d][1] += b[d + "_packets"] - a[d + "_packets"]
    assert agg == grown
