# SPDX-License-Identifier: MIT
"""The ClickHouse store on a real cluster (tests/e2e/ch_cluster.py): two
shards x two replicas of Debian's clickhouse-server 18.16 and one
ZooKeeper, started once for this file in a namespace of their own.

What 18.16 does (probed with this harness, and checked again by
test_engine_on_18_16 below, so that a release that behaves otherwise
fails here rather than in the store):

- `CREATE DATABASE/TABLE ... ON CLUSTER` works (0.2-0.6 s for four nodes),
  `MATERIALIZED VIEW ... TO` included.  A server whose DDL worker could not
  reach ZooKeeper at start (1 s connect timeout, a cold JVM) crashes with
  SIGSEGV at the first ON CLUSTER statement: the harness waits for a real
  ZooKeeper session before it starts the servers.
- ReplicatedMergeTree deduplication: the same block inserted twice on one
  replica, or once on each replica of a shard, is stored once.  The block
  id is a hash of the written part, i.e. of the rows sorted by the table's
  ORDER BY key: the same rows in another order are the same block.  An
  `INSERT ... SELECT` run again (same replica, or the other replica with the
  same staged rows) is dropped the same way.
- A deduplicated block is not pushed into the materialized views of the
  table (a plain MergeTree target got nothing).  Two different blocks whose
  aggregates are equal are both kept in a replicated SummingMergeTree
  target (18.16 does not deduplicate what a view writes).
- A Distributed table reads every shard while one replica of a shard is
  down (no delay seen).  With a whole shard down a read fails (code 279,
  "All connection tries failed"); with `skip_unavailable_shards = 1` it
  silently returns the other shard only: partial sums, so the test never
  sets it.
- A replica killed with SIGKILL and started again answers in 1-1.5 s but
  is read-only until ZooKeeper expires its old session, then fetches what
  it missed: 20 parts inserted meanwhile on its partner were there 11-12 s
  after the start (session timeout 6 s or 4 s alike, on a busy machine);
  when the partner was down too, 0.2 s after the partner was back.  A
  clean stop (SIGTERM) and start take under 1 s each.  SYSTEM SYNC REPLICA
  exists and waits for the replica's queue.

test_three_monitors: three monitors, each in its own pair of namespaces
with UDP traffic both ways, write through three different nodes
(`?cluster=`, `--db-host h1..h3`, drains every 0.2 s).  While they insert,
one replica is killed (SIGKILL) and started again, then one whole shard is
stopped (SIGTERM) and started again.  Then the per-host and per-address
sums over `traffic` (Distributed) and over every rollup equal what the
senders sent, exactly; each shard's replicas hold the same rows; and the
phase 2 of a stored drain run again by hand, on the same replica and on
the other replica of its shard (its staged rows copied there first),
changes no sum."""

import csv
import io
import threading
import time

import pytest

import ch_cluster as chc
import itm_e2e as e2e
from test_store import steady_sender, truth_from

PORT = 5011
DB = "itm"
ROLLUPS = ("itm_minute", "itm_hour", "itm_day")
# Monitor i writes through node WRITERS[i] (shard, replica).
WRITERS = ((1, 1), (2, 1), (1, 2))
COUNTS = ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets")


@pytest.fixture(scope="module")
def cluster():
    if not chc.available():
        pytest.fail("clickhouse-server or zookeeper missing (apt-get "
                    "install clickhouse-server zookeeper)")
    c = chc.Cluster()
    try:
        c.start()
        yield c
    finally:
        c.teardown()


def _tsv(rows):
    return ("".join("\t".join(map(str, r)) + "\n" for r in rows)).encode()


def _insert(node, table, rows, settings=None):
    status, out = node.post("INSERT INTO %s FORMAT TabSeparated" % table,
                            _tsv(rows), settings=settings)
    assert status == 200, out


def _one(node, sql, **kw):
    return [tuple(int(x) for x in r) for r in node.query(sql, **kw)]


def test_engine_on_18_16(cluster):
    """The engine's behaviour the store's cluster design rests on."""
    a, b = cluster.shard_nodes(1)
    c, d = cluster.shard_nodes(2)
    on = " ON CLUSTER %s" % cluster.name
    a.query("CREATE DATABASE IF NOT EXISTS probe" + on)
    a.query("CREATE TABLE probe.loc%s (k UInt32, att UInt32, v UInt64)"
            " ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/"
            "probe/loc', '{replica}') ORDER BY (k, att)" % on)
    a.query("CREATE TABLE probe.stage%s (k UInt32, att UInt32, v UInt64)"
            " ENGINE = MergeTree ORDER BY att" % on)
    a.query("CREATE TABLE probe.plain%s (k UInt32, v UInt64)"
            " ENGINE = MergeTree ORDER BY k" % on)
    a.query("CREATE MATERIALIZED VIEW probe.mv_plain%s TO probe.plain AS"
            " SELECT k, sum(v) AS v FROM probe.loc GROUP BY k" % on)
    a.query("CREATE TABLE probe.rsum%s (k UInt32, v UInt64) ENGINE ="
            " ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/"
            "probe/rsum', '{replica}') ORDER BY k" % on)
    a.query("CREATE MATERIALIZED VIEW probe.mv_rsum%s TO probe.rsum AS"
            " SELECT k, sum(v) AS v FROM probe.loc GROUP BY k" % on)
    a.query("CREATE TABLE probe.dist%s AS probe.loc ENGINE ="
            " Distributed(%s, probe, loc, k)" % (on, cluster.name))
    for n in cluster.nodes:
        assert len(n.query("SHOW TABLES FROM probe")) == 7, n

    block = [(1, 1, 10), (2, 1, 20)]
    _insert(a, "probe.loc", block)
    _insert(a, "probe.loc", block)  # same replica
    _insert(b, "probe.loc", block[::-1])  # other replica, other order
    cluster.sync("probe")
    for n in (a, b):
        assert _one(n, "SELECT count(), sum(v) FROM probe.loc") == [(2, 30)]
        # Only the first insert reached the views.
        assert _one(n, "SELECT sum(v) FROM probe.plain") == [(30 if n is a
                                                              else 0,)]
        assert _one(n, "SELECT sum(v) FROM probe.rsum") == [(30,)]
    # Another block with the same aggregate: kept, in the view too.
    _insert(a, "probe.loc", [(1, 2, 10), (2, 2, 20)])
    # INSERT ... SELECT from staged rows, again, then on the other replica.
    staged = [(3, 3, 30), (4, 3, 40)]
    copy = ("INSERT INTO probe.loc SELECT k, att, v FROM probe.stage"
            " WHERE att = 3 ORDER BY k, att")
    for n in (a, b):
        _insert(n, "probe.stage", staged)
    for n in (a, a, b):
        n.query(copy)
    cluster.sync("probe")
    for n in (a, b):
        assert _one(n, "SELECT count(), sum(v) FROM probe.loc") == [
            (6, 130)]
        assert _one(n, "SELECT sum(v) FROM probe.rsum") == [(130,)]
    # A replica down: the Distributed table still reads everything.
    _insert(c, "probe.loc", [(100, 1, 1000)])
    cluster.sync("probe")
    d.kill()
    for n in (a, c):
        assert _one(n, "SELECT count(), sum(v) FROM probe.dist") == [
            (7, 1130)]
    # The whole shard down: an error, or partial sums when asked to skip.
    c.kill()
    with pytest.raises(RuntimeError, match="279"):
        a.query("SELECT sum(v) FROM probe.dist")
    assert _one(a, "SELECT sum(v) FROM probe.dist",
                settings={"skip_unavailable_shards": "1"}) == [(130,)]
    # Back, and d fetches what c got while it was down.
    d.start()
    c.start()
    cluster.wait_writable()
    _insert(c, "probe.loc", [(101, 1, 1)])
    cluster.sync("probe")
    assert _one(d, "SELECT count(), sum(v) FROM probe.loc") == [(2, 1001)]
    a.query("DROP DATABASE probe" + on)


def _sums(node, table, where="", by="host, remote_ip"):
    """{(host, remote_ip): {counts}} of a table or view of DB."""
    out = {}
    for r in node.query("SELECT %s, sum(tx_bytes), sum(tx_packets),"
                        " sum(rx_bytes), sum(rx_packets) FROM %s.%s %s"
                        " GROUP BY %s" % (by, DB, table, where, by)):
        n = len(r) - 4
        key = tuple(r[:n]) if n > 1 else r[0]
        out[key] = dict(zip(COUNTS, map(int, r[n:])))
    return out


def _per_host(truth):
    out = {}
    for (h, _), v in truth.items():
        t = out.setdefault(h, dict.fromkeys(COUNTS, 0))
        for k in COUNTS:
            t[k] += v[k]
    return out


def _rerun_phase2(cluster, writer, host):
    """Phase 2 of the largest stored drain of `host` again, by hand: on
    the replica the monitor wrote through, then on the other replica of
    its shard, each from the drain's rows staged again there (the
    monitor empties its stage once a drain is stored: the rows are taken
    from itm_data_local, which holds them as phase 2 copied them).
    Returns the bytes it would add if the engine did not drop it."""
    other = [n for n in cluster.shard_nodes(writer.shard)
             if n is not writer][0]
    (attempt, nbytes), = _one(writer, (
        "SELECT attempt, sum(tx_bytes + rx_bytes) AS b FROM"
        " %s.itm_data_local WHERE host = '%s' AND kind = 3"
        " GROUP BY attempt ORDER BY b DESC LIMIT 1") % (DB, host))
    assert nbytes > 0
    cols = ", ".join(r[0] for r in writer.query(
        "DESCRIBE TABLE %s.itm_data_local" % DB))
    where = "host = '%s' AND attempt = %d" % (host, attempt)
    status, staged = writer.post("SELECT %s FROM %s.itm_data_local WHERE"
                                 " %s FORMAT TabSeparated" % (cols, DB, where))
    assert status == 200 and staged, staged
    (types,), = writer.query(
        "SELECT arrayStringConcat(groupArray(concat(name, ' ', type)),"
        " ', ') FROM system.columns WHERE database = '%s' AND table ="
        " 'itm_data_local'" % DB)
    sql = ("INSERT INTO %s.itm_data_local (%s) SELECT %s FROM %s.itm_rerun"
           " WHERE %s ORDER BY host, ts, kind, remote_ip, pid" % (
               DB, cols, cols, DB, where))
    for node in (writer, other):
        node.query("CREATE TABLE IF NOT EXISTS %s.itm_rerun (%s) ENGINE ="
                   " Memory" % (DB, types))
        status, out = node.post("INSERT INTO %s.itm_rerun FORMAT"
                                " TabSeparated" % DB, staged)
        assert status == 200, out
        node.query(sql)
    return nbytes


def test_three_monitors(cluster, start_monitor, request, itm_bin):
    t0 = time.monotonic()
    topos, mons, senders, sinks = [], [], [], []
    try:
        # Three pairs of namespaces, then three monitors, side by side.
        for _ in WRITERS:
            topos.append(e2e.Topology())
            request.addfinalizer(topos[-1].teardown)
        setups = [threading.Thread(target=t.setup) for t in topos]
        for th in setups:
            th.start()
        for th in setups:
            th.join()
        for i, ((shard, replica), t) in enumerate(zip(WRITERS, topos)):
            via = cluster.attach(t.mns)
            node = cluster.node(shard, replica)
            mons.append(start_monitor(
                t, "--db", node.url(DB, via=via), "--db-host",
                "h%d" % (i + 1), "--db-interval", "1", "-s", "0.2",
                wait=False))
        for m in mons:
            m.wait_ready(timeout=60)
        for t in topos:
            sinks += [e2e.Sinks(t.pns, t.peers, PORT),
                      e2e.Sinks(t.mns, t.mon_addrs, PORT)]
        duration = 12.0
        for t in topos:
            senders.append((
                e2e.Forked(t.mns, steady_sender,
                           [(t.mon_addr_for(p), p) for p in t.peers], PORT,
                           200, duration, 300),
                e2e.Forked(t.pns, steady_sender,
                           [(p, t.mon_addr_for(p)) for p in t.peers], PORT,
                           300, duration, 200)))
        t_traffic = time.monotonic()
        marks = {}
        # During the inserts: one replica killed, then a whole shard
        # stopped, each started again.
        victim = cluster.node(1, 2)
        time.sleep(2.0)
        victim.kill()
        time.sleep(1.5)
        victim.start()
        marks["replica back"] = time.monotonic()
        time.sleep(2.0)
        shard2 = cluster.shard_nodes(2)
        cluster.stop_nodes(shard2)
        marks["shard stopped"] = time.monotonic()
        time.sleep(2.5)
        cluster.start_nodes(shard2)
        marks["shard back"] = time.monotonic()
        truths = [truth_from(tx.wait(duration + 60), rx.wait(duration + 60))
                  for tx, rx in senders]
        marks["traffic sent"] = time.monotonic()
        for t in topos:
            t.wait_quiet(quiet_for=0.5)
        truth = {("h%d" % (i + 1), ip): v
                 for i, tr in enumerate(truths) for ip, v in tr.items()}
        for m, tr in zip(mons, truths):
            assert {k: v for k, v in m.scrape().per_ip().items()
                    if any(v.values())} == tr
        # The monitors store what waited in the kernel while their node
        # was down; then a clean stop stores the rest.
        cluster.wait_writable()
        marks["writable"] = time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _sums(cluster.nodes[0], "traffic") == truth:
                    break
            except RuntimeError:
                pass
            time.sleep(0.5)
        marks["stored"] = time.monotonic()
        for m in mons:
            assert m.stop(timeout=30) == 0, m.stderr()
        # The monitors writing through the killed replica and the stopped
        # shard did lose their node for a while, and said so.
        for m in mons[1:]:
            err = m.stderr()
            assert "writing database" in err and "writable again" in err, err
    finally:
        for s in sinks:
            s.close()
    cluster.sync(DB)
    assert sum(v["tx_packets"] for v in truth.values()) > 3000
    for n in cluster.nodes:  # every node reads the whole cluster
        assert _sums(n, "traffic") == truth, n
    assert _sums(cluster.nodes[0], "traffic", by="host") == _per_host(truth)
    for r in ROLLUPS:
        assert _sums(cluster.nodes[3], r, "WHERE kind = 3") == truth, r
    # Each replica of a shard holds what the other holds.
    for s in (1, 2):
        x, y = cluster.shard_nodes(s)
        q = ("SELECT count(), sum(tx_bytes), sum(rx_bytes) FROM"
             " %s.itm_data_local" % DB)
        assert _one(x, q) == _one(y, q), s
    # Phase 2 again, by hand, on both replicas: nothing more is stored.
    would = 0
    for i, (shard, replica) in enumerate(WRITERS):
        would += _rerun_phase2(cluster, cluster.node(shard, replica),
                               "h%d" % (i + 1))
    cluster.sync(DB)
    assert _sums(cluster.nodes[2], "traffic") == truth
    for r in ROLLUPS:
        assert _sums(cluster.nodes[1], r, "WHERE kind = 3") == truth, r
    # query top reads the Distributed tables: every host, and one
    url = cluster.nodes[0].url(DB, via=via)
    for host in (None, "h2"):
        q = e2e.nsx(topos[-1].mns, itm_bin, "query", "top", "--db", url,
                    "--csv", "-n", "0", "--since", "24h",
                    *(("--host", host) if host else ()), check=False,
                    timeout=60)
        assert q.returncode == 0, q.stderr
        rows = list(csv.DictReader(io.StringIO(q.stdout)))
        got = {r["remote_ip"]: tuple(int(r[k]) for k in COUNTS)
               for r in rows}
        want = {}
        for (h, ip), v in truth.items():
            if host in (None, h):
                w = want.get(ip, (0, 0, 0, 0))
                want[ip] = tuple(a + v[k] for a, k in zip(w, COUNTS))
        assert got == want, host
        # ranked on the shards' sums: sent + received bytes descending,
        # then the address's bytes; -n 2 is the first two of them
        tx, rx = COUNTS.index("tx_bytes"), COUNTS.index("rx_bytes")
        ranked = sorted(want, key=lambda ip: (-want[ip][tx] - want[ip][rx],
                                              ip.encode()))
        assert [r["remote_ip"] for r in rows] == ranked, host
        q = e2e.nsx(topos[-1].mns, itm_bin, "query", "top", "--db", url,
                    "--csv", "-n", "2", "--since", "24h",
                    *(("--host", host) if host else ()), check=False,
                    timeout=60)
        assert q.returncode == 0, q.stderr
        assert [r["remote_ip"] for r in csv.DictReader(
            io.StringIO(q.stdout))] == ranked[:2], host
    print("kernel %s; cluster start %.2f s; traffic to stored %.1f s"
          " (%s); test %.1f s; tx %d B/%d pkts, rx %d B/%d pkts;"
          " phase 2 re-run of %d B dropped" % (
              e2e.sh("uname", "-r").stdout.strip(), cluster.start_seconds,
              marks["stored"] - t_traffic, ", ".join(
                  "%s +%.1f s" % (k, v - t_traffic) for k, v in marks.items()),
              time.monotonic() - t0,
              *(sum(v[k] for v in truth.values()) for k in COUNTS), would))
