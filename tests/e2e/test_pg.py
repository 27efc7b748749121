# SPDX-License-Identifier: MIT
"""The central PostgreSQL store (--db postgresql://...): a throwaway
PostgreSQL 15 cluster under a temporary directory, listening on a Unix
socket only; three monitors, each in its own pair of test namespaces,
write into one database; the server is stopped and started again while
they count.  Per host, the sums in the `traffic` view equal that host's
ground truth exactly: nothing counted while the server was away is lost
(the store's commit protocol keeps it in the kernel maps and retries)."""

import os
import time

import pytest

import itm_e2e as e2e
import pg_cluster as pc

UDP_PORT = 5001


def _send(t, truth, sizes):
    for i, peer in enumerate(t.peers):
        local = t.mon_addr_for(peer)
        b, p = e2e.udp_send(t.mns, local, peer, UDP_PORT,
                            [s + i for s in sizes])
        e2e.add_counts(truth, peer, "tx", b, p)
        b, p = e2e.udp_send(t.pns, peer, local, UDP_PORT, sizes[:2])
        e2e.add_counts(truth, peer, "rx", b, p)


def _per_host(cluster):
    out = {}
    for host, ip, txb, rxb, txp, rxp in cluster.psql(
            "SELECT host, remote_ip, sum(tx_bytes), sum(rx_bytes),"
            " sum(tx_packets), sum(rx_packets) FROM traffic"
            " GROUP BY host, remote_ip"):
        out.setdefault(host, {})[ip] = {
            "tx_bytes": int(txb), "rx_bytes": int(rxb),
            "tx_packets": int(txp), "rx_packets": int(rxp)}
    return out


@pytest.fixture
def cluster():
    if not pc.available():
        pytest.fail("PostgreSQL 15 server binaries missing (postgresql-15)")
    c = pc.Cluster(port=54300 + os.getpid() % 500).init().start()
    yield c
    c.teardown()


def test_three_hosts_one_database_server_restart(request, cluster,
                                                 start_monitor, bpffs):
    topos = []
    for _ in range(3):
        t = e2e.Topology()
        request.addfinalizer(t.teardown)
        topos.append(t.setup())
    sinks = []
    mons = []
    truth = [{} for _ in topos]
    try:
        for t in topos:
            sinks.append(e2e.Sinks(t.pns, t.peers, UDP_PORT))
            sinks.append(e2e.Sinks(t.mns, t.mon_addrs, UDP_PORT))
        for n, t in enumerate(topos):
            pin = os.path.join(bpffs, "itm_pg_%d_%d" % (os.getpid(), n))
            request.addfinalizer(lambda p=pin: e2e.remove_tree(p))
            mons.append(start_monitor(
                t, "-s", "0.2", "--db", cluster.url(), "--db-host",
                "host%d" % n, "--db-interval", "1", pin=pin))
        for n, t in enumerate(topos):
            _send(t, truth[n], [100 + n, 700, 1400])
        time.sleep(1.0)  # committed
        cluster.stop()
        for n, t in enumerate(topos):
            _send(t, truth[n], [50, 333 + n, 1200])
        time.sleep(1.5)  # several drains fail meanwhile
        cluster.start()
        for n, t in enumerate(topos):
            _send(t, truth[n], [77 + 2 * n, 900])
        for t in topos:
            t.wait_quiet(quiet_for=0.5)
        scraped = [m.scrape().per_ip() for m in mons]
        for m in mons:
            assert m.stop() == 0
    finally:
        for s in sinks:
            s.close()

    got = _per_host(cluster)
    for n in range(3):
        assert scraped[n] == truth[n]
        assert got.get("host%d" % n) == truth[n], (n, got)
        err = mons[n].stderr()
        assert "writable again" in err, err
        assert err.count("writing database") == 1, err
    # The schema is the SQLite one plus the host column.
    cols = [r[0] for r in cluster.psql(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'traffic' ORDER BY ordinal_position")]
    assert cols == ["host", "ts", "seconds", "iface", "remote_ip", "pid",
                    "process", "country", "province", "city", "isp", "asn",
                    "tx_bytes", "rx_bytes", "tx_packets", "rx_packets"]


def test_restart_continues_this_hosts_totals(cluster, start_monitor,
                                             topo):
    """A monitor restarted against the database continues its own
    host's totals, not another host's."""
    t = topo
    sinks = [e2e.Sinks(t.pns, t.peers, UDP_PORT),
             e2e.Sinks(t.mns, t.mon_addrs, UDP_PORT)]
    truth = {}
    try:
        # Another host's rows in the same database.
        cluster.psql("SELECT 1")
        mon = start_monitor(t, "-s", "0.2", "--db", cluster.url(),
                            "--db-host", "a")
        _send(t, truth, [10, 20, 30])
        t.wait_quiet(quiet_for=0.5)
        assert mon.stop() == 0
        mon = start_monitor(t, "-s", "0.2", "--db", cluster.url(),
                            "--db-host", "b")
        assert mon.scrape().per_ip() == {}
        assert mon.stop() == 0
        mon = start_monitor(t, "-s", "0.2", "--db", cluster.url(),
                            "--db-host", "a")
        assert mon.scrape().per_ip() == truth
        assert mon.stop() == 0
    finally:
        for s in sinks:
            s.close()
