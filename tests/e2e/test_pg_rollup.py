# SPDX-License-Identifier: MIT
"""Rollups and retention of the PostgreSQL store, many writers into one
database, against a throwaway PostgreSQL 15 cluster.

build/tests/pg_drive drives the real store (store.c/store_pg.c) with
synthetic flushes at simulated times, so hours and days close in seconds,
and prints every committed row: the ground truth.  The test sums that
truth itself and compares, per host, every table (raw buckets, hours,
days, all-time totals) with it, exactly; the horizons the store keeps in
`meta` are compared with values computed here from the documented
--db-keep-* semantics."""

import os
import subprocess

import pytest

import itm_e2e as e2e
import pg_cluster as pc

H = 3600
D = 86400
START = 1700000000  # 2023-11-14 22:13:20 UTC: not on an hour
STEP = 600


def drive_bin():
    return os.path.join(os.path.dirname(os.path.abspath(e2e.default_bin())),
                        "tests", "pg_drive")


def drive_args(db, host, seed, rounds, keep=None, extra=()):
    argv = [drive_bin(), "--db", db, "--host", host, "--seed", str(seed),
            "--start", str(START), "--step", str(STEP), "--rounds",
            str(rounds), "--addrs", "24"]
    if keep:
        argv += ["--keep-buckets", str(keep[0]), "--keep-hours",
                 str(keep[1]), "--keep-days", str(keep[2])]
    return argv + list(extra)


def parse_truth(out):
    rows, other = [], []
    for line in out.splitlines():
        f = line.split()
        if f[0] == "R":
            rows.append((int(f[1]), f[2], int(f[3]), f[4],
                         tuple(int(x) for x in f[-4:])))
        elif f[0] == "O":
            other.append((int(f[1]), f[2], tuple(int(x) for x in f[3:7])))
    return rows, other


def floor(t, u):
    return t - t % u


def add(d, k, v):
    o = d.get(k, (0, 0, 0, 0))
    d[k] = tuple(a + b for a, b in zip(o, v))


def expect(rows, other, unit, lo, hi):
    """Truth summed per (unit start, key) for lo <= start < hi."""
    t, o = {}, {}
    for ts, ip, pid, proc, v in rows:
        s = floor(ts, unit) if unit else None
        if lo <= floor(ts, unit or 1) < hi:
            add(t, (s, ip, pid, proc), v)
    for ts, kind, v in other:
        s = floor(ts, unit) if unit else None
        if lo <= floor(ts, unit or 1) < hi:
            add(o, (s, kind), v)
    return t, o


def table(cluster, host, name, db="postgres"):
    fam = name[0]
    ts = "r.ts" if not name.endswith("total") else "NULL"
    if fam == "t":
        sql = ("SELECT %s, a.remote_ip, p.pid, p.process, r.tx_bytes,"
               " r.rx_bytes, r.tx_packets, r.rx_packets FROM %s r"
               " JOIN ifaces i ON i.id = r.iface_id"
               " JOIN addrs a ON a.id = r.addr_id"
               " JOIN procs p ON p.id = r.proc_id WHERE i.host = '%s'"
               % (ts, name, host))
    else:
        sql = ("SELECT %s, CASE r.kind WHEN 0 THEN 'overflow' WHEN 1 THEN"
               " 'non_ip' ELSE 'malformed' END, r.tx_bytes, r.rx_bytes,"
               " r.tx_packets, r.rx_packets FROM %s r"
               " JOIN ifaces i ON i.id = r.iface_id WHERE i.host = '%s'"
               % (ts, name, host))
    out = {}
    for f in cluster.psql(sql, db=db):
        key = (int(f[0]) if f[0] else None,) + tuple(
            int(x) if x.isdigit() else x for x in f[1:-4])
        assert key not in out, key  # one row per key
        out[key] = tuple(int(x) for x in f[-4:])
    return out


def meta(cluster, host, db="postgres"):
    return {k: int(v) for k, v in cluster.psql(
        "SELECT key, value FROM meta WHERE host = '%s'" % host, db=db)}


def expected_meta(last, keep):
    kb, kh, kd = keep
    hour_done = floor(last, H)
    day_done = floor(last, D)
    bucket_from = min(floor(last - kb, H), hour_done)
    hour_from = min(floor(last - kh, D), day_done, floor(bucket_from, D))
    day_from = min(floor(last - kd, D), hour_from) if kd else None
    return {"hour_done": hour_done, "day_done": day_done,
            "bucket_from": bucket_from, "hour_from": hour_from}, day_from


def check_host(cluster, host, rows, other, hz, day_from, db="postgres"):
    """Every table of `host` holds exactly the truth its horizons say."""
    inf = 1 << 62
    first = min(r[0] for r in rows)
    assert hz["bucket_from"] <= hz["hour_done"]
    assert hz["hour_from"] <= hz["day_done"] <= hz["hour_done"]
    # Raw buckets: everything from bucket_from on, nothing before.
    t, o = expect(rows, other, None, hz["bucket_from"], inf)
    t = {(k[1], k[2], k[3], ts): v for k, v in t.items() for ts in [None]}
    got = table(cluster, host, "t_bucket", db)
    want = {}
    for ts, ip, pid, proc, v in rows:
        if ts >= hz["bucket_from"]:
            add(want, (ts, ip, pid, proc), v)
    assert got == want
    want_o = {}
    for ts, kind, v in other:
        if ts >= hz["bucket_from"]:
            add(want_o, (ts, kind), v)
    assert table(cluster, host, "o_bucket", db) == want_o
    # Hours: every closed hour in [hour_from, hour_done).
    t, o = expect(rows, other, H, hz["hour_from"], hz["hour_done"])
    assert table(cluster, host, "t_hour", db) == t
    assert table(cluster, host, "o_hour", db) == o
    # Days: closed days before day_done, from day_from on.
    lo = day_from if day_from is not None else -inf
    t, o = expect(rows, other, D, lo, hz["day_done"])
    assert table(cluster, host, "t_day", db) == t
    assert table(cluster, host, "o_day", db) == o
    # All-time totals of every rolled-up day, expired ones included.
    t, o = expect(rows, other, 0, -inf, hz["day_done"])
    t = {(None,) + k[1:]: v for k, v in t.items()}
    o = {(None,) + k[1:]: v for k, v in o.items()}
    assert table(cluster, host, "t_total", db) == t
    assert table(cluster, host, "o_total", db) == o
    # What a restart continues from: totals + open hours + open buckets
    # equal all the truth; the `traffic` view shows what is kept.
    allt = {}
    for ts, ip, pid, proc, v in rows:
        add(allt, ip, v)
    got = {}
    for ip, *v in cluster.psql(
            "SELECT a.remote_ip, sum(r.tx_bytes), sum(r.rx_bytes),"
            " sum(r.tx_packets), sum(r.rx_packets) FROM ("
            " SELECT iface_id, addr_id, tx_bytes, rx_bytes, tx_packets,"
            " rx_packets FROM t_total UNION ALL SELECT iface_id, addr_id,"
            " tx_bytes, rx_bytes, tx_packets, rx_packets FROM t_hour"
            " WHERE ts >= %d AND ts < %d UNION ALL SELECT iface_id,"
            " addr_id, tx_bytes, rx_bytes, tx_packets, rx_packets"
            " FROM t_bucket WHERE ts >= %d) r JOIN ifaces i"
            " ON i.id = r.iface_id JOIN addrs a ON a.id = r.addr_id"
            " WHERE i.host = '%s' GROUP BY a.remote_ip"
            % (hz["day_done"], hz["hour_done"], hz["hour_done"], host),
            db=db):
        got[ip] = tuple(int(x) for x in v)
    assert got == allt
    view = {}
    for ts, ip, pid, proc, v in rows:
        if day_from is None or ts >= day_from:
            add(view, ip, v)
    got = {ip: tuple(int(x) for x in v) for ip, *v in cluster.psql(
        "SELECT remote_ip, sum(tx_bytes), sum(rx_bytes), sum(tx_packets),"
        " sum(rx_packets) FROM traffic WHERE host = '%s'"
        " GROUP BY remote_ip" % host, db=db)}
    assert got == view
    assert first < hz["hour_done"]  # something was rolled up at all


@pytest.fixture
def cluster():
    if not pc.available():
        pytest.fail("PostgreSQL 15 server binaries missing (postgresql-15)")
    c = pc.Cluster(port=54300 + (os.getpid() + 7) % 500).init().start()
    yield c
    c.teardown()


def test_rollups_four_writers_one_database(cluster):
    """Four writers flush and roll up concurrently into one database, three
    days of 10-minute flushes each; host h3 with the default --db-keep-*,
    the others with 6 h of buckets, 1 d of hours and 2 d of days."""
    rounds = 3 * D // STEP
    short = (6 * H, D, 2 * D)
    default = (2 * D, 90 * D, 0)
    keeps = [short, short, short, default]
    procs = []
    for n in range(4):
        procs.append(subprocess.Popen(
            drive_args(cluster.url(), "h%d" % n, 11 + n, rounds,
                       keep=keeps[n]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    last = START + (rounds - 1) * STEP
    for n in range(4):
        rows, other = parse_truth(outs[n][0])
        assert len(rows) > 5000
        hz, day_from = expected_meta(last, keeps[n])
        assert meta(cluster, "h%d" % n) == hz
        check_host(cluster, "h%d" % n, rows, other, hz, day_from)
    # Each host expired only its own rows: h3 still has its first days.
    assert cluster.psql("SELECT count(DISTINCT ts) FROM t_day r JOIN ifaces i"
                        " ON i.id = r.iface_id WHERE host = 'h3'") == [["3"]]
    assert cluster.psql("SELECT count(DISTINCT ts) FROM t_day r JOIN ifaces"
                        " i ON i.id = r.iface_id WHERE host = 'h0'") == [["2"]]


def test_rollup_killed_midway_then_two_rollers(cluster):
    """A rollup killed (SIGKILL) before its COMMIT leaves the database as
    the last committed step left it; then two processes roll the same
    host up at once (a restart overlapping the old monitor) and every
    table ends exact: nothing doubled, nothing lost."""
    rounds = 2 * D // STEP
    keep = (6 * H, D, 0)
    p = e2e.sh(*drive_args(cluster.url(), "c", 5, rounds, keep=keep,
                           extra=["--no-maintain"]), timeout=300)
    rows, other = parse_truth(p.stdout)
    last = START + rounds * STEP
    env = dict(os.environ, ITM_TEST_KILL_IN_ROLLUP="5")
    k = subprocess.run([drive_bin(), "--db", cluster.url(), "--host", "c",
                        "--maintain-at", str(last), "--max-hours", "0",
                        "--keep-buckets", str(keep[0]), "--keep-hours",
                        str(keep[1]), "--keep-days", "0"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert k.returncode == -9, k.stderr
    hz = meta(cluster, "c")
    assert hz["hour_done"] == floor(START, H) + 4 * H
    check_host(cluster, "c", rows, other, hz, None)
    rollers = [subprocess.Popen(
        [drive_bin(), "--db", cluster.url(), "--host", "c",
         "--maintain-at", str(last), "--max-hours", "0",
         "--keep-buckets", str(keep[0]), "--keep-hours", str(keep[1]),
         "--keep-days", "0"], stderr=subprocess.PIPE, text=True)
        for _ in range(2)]
    for r in rollers:
        _, err = r.communicate(timeout=300)
        assert r.returncode == 0, err
    # One of them may have skipped (the other held the host's lock):
    # roll once more to be sure all is done, which must change nothing.
    e2e.sh(drive_bin(), "--db", cluster.url(), "--host", "c",
           "--maintain-at", str(last), "--max-hours", "0", "--keep-buckets",
           str(keep[0]), "--keep-hours", str(keep[1]), "--keep-days", "0")
    want, day_from = expected_meta(last, keep)
    assert meta(cluster, "c") == want
    check_host(cluster, "c", rows, other, want, day_from)
