# SPDX-License-Identifier: MIT
"""IPFIX across kill -9 with --db: the records each commit hands to the
exporter are stored in the same transaction (the outbox), the collector's
position goes into the store with the next commit, and a restart sends
what lies after it.  nfcapd (UDP) stays up while the monitor is killed at
random instants under steady traffic and restarted, several rounds, on
SQLite and on PostgreSQL.

Ground truth: what the senders' sockets took, per address and direction
(the pinned maps count while no monitor runs).  A record sent again
starts where the flush the collector may already have started, so a
duplicate is identifiable: its [start, end] lies inside another record's
of the same address and direction.  Without those, nfcapd's sums equal
the truth exactly; the duplicates are at most the last flush per kill."""

import os
import random
import signal
import time

import pytest

import flow_collectors as fc
import itm_e2e as e2e
import pg_cluster as pc
from test_ipfix_delivery import UDP_PORT, _Traffic

IPFIX_PORT = 4743
RESENT = "stored after the collector's last acknowledged position go out"


def _dedup(recs):
    """Per-address records; drop each one whose interval lies inside
    another's of the same address and direction (sent again after a
    kill).  Returns (sums, duplicates per (address, direction))."""
    groups = {}
    for r in recs:
        if r["remote"] is None:
            continue
        groups.setdefault((r["remote"], r["dir"]), []).append(r)
    sums, dups = {}, {}
    for key, rs in groups.items():
        # Longest first among equal starts, so the container comes first.
        rs.sort(key=lambda r: (r["ts"], tuple(-ord(c) for c in r["te"])))
        cur = None
        for r in rs:
            if cur and r["ts"] >= cur["ts"] and r["te"] <= cur["te"]:
                dups[key] = dups.get(key, 0) + 1
                # What it repeats is in the container, byte for byte.
                assert r["bytes"] <= cur["bytes"], (r, cur)
                continue
            if cur:
                assert r["ts"] >= cur["te"], (cur, r)  # no other overlap
            cur = r
            e2e.add_counts(sums, key[0], key[1], r["bytes"], r["packets"])
    return sums, dups


def _run(t, start_monitor, db, rounds, rng, tmp_path):
    nf = fc.Nfcapd(t.mns, IPFIX_PORT, str(tmp_path / "nfcapd")).start()
    peers = (e2e.Sinks(t.pns, t.peers, UDP_PORT),
             e2e.Sinks(t.mns, t.mon_addrs, UDP_PORT))
    args = ("-s", "0.1", "--db", db, "--ipfix", "127.0.0.1:%d" % IPFIX_PORT,
            "--ipfix-interval", "0.5")
    traffic = None
    errs = []
    try:
        for r in range(rounds):
            mon = start_monitor(t, *args)
            if not r:  # counted from here on, by a monitor or its pins
                traffic = _Traffic(t, rng.random()).start()
            time.sleep(rng.uniform(0.3, 2.0))
            mon.proc.send_signal(signal.SIGKILL)
            mon.proc.wait()
            errs.append(mon.stderr())
            time.sleep(rng.uniform(0.0, 0.3))
        mon = start_monitor(t, *args)
        time.sleep(rng.uniform(0.5, 1.0))
        traffic.stop()
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape()
        assert mon.stop() == 0
        errs.append(mon.stderr())
    finally:
        if traffic:
            traffic.stop()
        for p in peers:
            p.close()
        nf.stop()
    truth = traffic.truth
    assert m.per_ip() == truth  # the store's own guarantee
    sums, dups = _dedup(nf.records())
    assert sums == truth, nf.log()
    # At most the last flush per kill, once per address and direction.
    assert all(n <= rounds for n in dups.values()), dups
    if dups:
        # Sent again, and said so at the start that sent them.
        assert any(RESENT in e for e in errs[1:]), errs
    assert "0 records not delivered" in errs[-1], errs[-1]
    return sum(dups.values())


def test_kill9_sqlite_and_postgresql(topo, start_monitor, tmp_path):
    """5 kills on SQLite, 3 on PostgreSQL, each at a random instant."""
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print("seed", seed)
    dups = [_run(topo, start_monitor, str(tmp_path / "traffic.db"), 5, rng,
                 tmp_path / "sqlite")]
    if not pc.available():
        pytest.fail("PostgreSQL 15 server binaries missing (postgresql-15)")
    cluster = pc.Cluster(port=54300 + os.getpid() % 500 + 7).init().start()
    try:
        dups.append(_run(topo, start_monitor, cluster.url(), 3, rng,
                         tmp_path / "pg"))
    finally:
        cluster.teardown()
    print("duplicate records (SQLite, PostgreSQL):", dups)
