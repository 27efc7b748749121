# SPDX-License-Identifier: MIT
"""`query` and `query top` on PostgreSQL give what they give on SQLite.

The same synthetic history (build/tests/pg_drive: three days of flushes,
rolled up into hours and days with the same --db-keep-*) is written into an
SQLite file and into a throwaway PostgreSQL 15 cluster; every report and
SQL statement below must print byte for byte the same table, CSV and JSON
from both.  The Grafana examples of docs/store-and-query.md (and its Chinese twin)
run against the server."""

import os
import re

import pytest

import itm_e2e as e2e
import pg_cluster as pc
import test_pg_rollup as ro

ROUNDS = 3 * ro.D // ro.STEP
LAST = ro.START + (ROUNDS - 1) * ro.STEP
KEEP = (6 * ro.H, ro.D, 0)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures")
# pg_drive's own output per host, for the asn of each row (parse_truth
# keeps the fields the rollup tests use).
RAW = {}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    if not pc.available():
        pytest.fail("PostgreSQL 15 server binaries missing (postgresql-15)")
    c = pc.Cluster(port=54300 + (os.getpid() + 13) % 500).init().start()
    try:
        c.psql("CREATE DATABASE one")
        path = str(tmp_path_factory.mktemp("sqlite") / "traffic.db")
        truth = []
        for db in (path, c.url("one"), c.url()):
            p = e2e.sh(*ro.drive_args(db, "h0", 3, ROUNDS, keep=KEEP),
                       timeout=300)
            truth.append(p.stdout)
        assert truth[0] == truth[1] == truth[2]
        RAW["h0"] = truth[0]
        # A second host in the shared database, for --host and Grafana.
        p = e2e.sh(*ro.drive_args(c.url(), "h1", 4, ROUNDS, keep=KEEP),
                   timeout=300)
        RAW["h1"] = p.stdout
        yield c, path, ro.parse_truth(truth[0]), ro.parse_truth(p.stdout)
    finally:
        c.teardown()


def query(itm_bin, *argv, check=True):
    return e2e.sh(itm_bin, "query", *argv, check=check)


WINDOWS = [
    (ro.START, LAST + 1),                       # everything
    (ro.START + 5000, ro.START + 200000),        # cuts days and hours
    (ro.START + ro.D, LAST - 2 * ro.H + 123),   # buckets at the end
]

TOPS = [
    ["--by", "remote_ip", "-n", "0"],
    ["--by", "country"],
    ["--by", "province", "--tx"],
    ["--by", "city", "--rx", "-n", "3"],
    ["--by", "isp", "--both"],
    ["--by", "process"],
    ["--by", "iface"],
    ["--by", "asn", "-n", "0"],
]

SQL = [
    "SELECT remote_ip, country, province, city, isp, sum(tx_bytes) AS tx,"
    " sum(rx_bytes) AS rx, sum(tx_packets) AS txp, sum(rx_packets) AS rxp"
    " FROM traffic GROUP BY remote_ip, country, province, city, isp"
    " ORDER BY remote_ip",
    "SELECT ts, seconds, iface, remote_ip, pid, process, tx_bytes, rx_bytes,"
    " tx_packets, rx_packets FROM traffic ORDER BY ts, remote_ip LIMIT 300",
    "SELECT seconds, count(*) AS n, sum(tx_bytes) AS tx FROM traffic"
    " GROUP BY seconds ORDER BY seconds",
    "SELECT kind, seconds, count(*) AS n, sum(tx_bytes) AS tx,"
    " sum(rx_packets) AS rxp FROM traffic_other GROUP BY kind, seconds"
    " ORDER BY seconds",
    "SELECT process, round(avg(tx_bytes), 2) AS mean, max(rx_bytes) AS top,"
    " NULL AS empty FROM traffic WHERE seconds = 3600 GROUP BY process"
    " ORDER BY process",
]


@pytest.mark.parametrize("fmt", [[], ["--csv"], ["--json"]],
                         ids=["table", "csv", "json"])
def test_top_same_on_both(stores, itm_bin, fmt):
    c, path, _, _ = stores
    n = 0
    for since, until in WINDOWS:
        for top in TOPS:
            args = ["top", "--since", "@%d" % since, "--until",
                    "@%d" % until] + top + fmt
            a = query(itm_bin, *args, "--db", path).stdout
            b = query(itm_bin, *args, "--db", c.url("one")).stdout
            h = query(itm_bin, *args, "--db", c.url(), "--host",
                      "h0").stdout
            assert a == b == h, args
            n += a.count("\n")
    assert n > 100


@pytest.mark.parametrize("fmt", [[], ["--csv"], ["--json"]],
                         ids=["table", "csv", "json"])
def test_sql_same_on_both(stores, itm_bin, fmt):
    c, path, _, _ = stores
    for sql in SQL:
        a = query(itm_bin, sql, "--db", path, *fmt).stdout
        b = query(itm_bin, sql, "--db", c.url("one"), *fmt).stdout
        assert a == b, sql
        assert a.count("\n") >= 3


def test_top_sums_are_exact_per_host(stores, itm_bin):
    """--host picks one host's rows; without it the hosts add up."""
    c, _, (rows0, _), (rows1, _) = stores
    want = [{}, {}]
    for n, rows in enumerate((rows0, rows1)):
        for ts, ip, pid, proc, v in rows:
            ro.add(want[n], ip, v[:2])
    # From the day before: the first bucket starts before START.
    base = ["top", "--since", "@%d" % (ro.START - ro.D), "--until",
            "@%d" % (LAST + 1),
            "-n", "0", "--csv", "--db", c.url()]
    for n in range(2):
        out = query(itm_bin, *base, "--host", "h%d" % n).stdout.splitlines()
        assert out[0] == "remote_ip,tx_bytes,rx_bytes,tx_packets,rx_packets"
        got = {f[0]: (int(f[1]), int(f[2]))
               for f in (line.split(",") for line in out[1:])}
        assert got == want[n]
    out = query(itm_bin, *base).stdout.splitlines()
    got = {f[0]: (int(f[1]), int(f[2]))
           for f in (line.split(",") for line in out[1:])}
    both = dict(want[0])
    for ip, v in want[1].items():
        ro.add(both, ip, v)
    assert got == both


def asn_sums(raw):
    """Truth per asn: R lines are '... | asn | tx rx txp rxp'."""
    want = {}
    for line in raw.splitlines():
        if line.startswith("R "):
            _, asn, vals = line.split(" | ")
            ro.add(want, asn, tuple(int(x) for x in vals.split()))
    return want


def top_csv(itm_bin, *argv):
    out = query(itm_bin, "top", "--csv", "-n", "0", *argv).stdout
    lines = out.splitlines()
    assert lines[0] == "asn,tx_bytes,rx_bytes,tx_packets,rx_packets", out
    return {f[0]: tuple(int(x) for x in f[1:])
            for f in (line.rsplit(",", 4) for line in lines[1:])}


def test_top_by_asn_exact(stores, itm_bin):
    """--by asn on both backends equals the sums of the rows written, per
    host and for all hosts, through buckets, hours and days."""
    c, path, _, _ = stores
    want = [asn_sums(RAW["h0"]), asn_sums(RAW["h1"])]
    assert len(want[0]) == 3 and "Unknown" in want[0], want[0]
    win = ["--by", "asn", "--since", "@%d" % (ro.START - ro.D), "--until",
           "@%d" % (LAST + 1)]
    assert top_csv(itm_bin, *win, "--db", path) == want[0]
    assert top_csv(itm_bin, *win, "--db", c.url("one")) == want[0]
    for n in range(2):
        assert top_csv(itm_bin, *win, "--db", c.url(),
                       "--host", "h%d" % n) == want[n]
    both = dict(want[0])
    for k, v in want[1].items():
        ro.add(both, k, v)
    assert top_csv(itm_bin, *win, "--db", c.url()) == both


def test_pg_schema_v2_migrates(stores, itm_bin):
    """A database the previous release created (schema 2, its SQL in
    fixtures/pg_schema_v2.sql) with rows in it: the next writer migrates
    it; every row and id stays, old addresses read asn 'Unknown'."""
    c, _, _, _ = stores
    c.psql("CREATE DATABASE old")
    with open(os.path.join(FIXTURES, "pg_schema_v2.sql")) as f:
        c.psql(f.read(), db="old")
    c.psql("INSERT INTO meta VALUES ('h9', 'hour_done', 0),"
           " ('h9', 'day_done', 0), ('h9', 'bucket_from', 0),"
           " ('h9', 'hour_from', 0);"
           "INSERT INTO ifaces(id, host, name) VALUES (50, 'h9', 'eth9');"
           "INSERT INTO addrs(id, ip, remote_ip, country, province, city,"
           " isp) VALUES (70, '\\x00000000000000000000ffff01020304',"
           " '1.2.3.4', 'China', 'Beijing', 'Beijing', 'China Telecom'),"
           " (71, '\\x20010db8000000000000000000000009', '2001:db8::9',"
           " 'Unknown', 'Unknown', 'Unknown', 'Unknown');"
           "INSERT INTO procs(id, pid, process) VALUES (80, 7, 'old');"
           "INSERT INTO t_bucket VALUES (1000020, 50, 70, 80, 60, 11, 12,"
           " 1, 2), (1000080, 50, 71, 80, 60, 21, 22, 3, 4);"
           "INSERT INTO t_hour VALUES (997200, 50, 70, 80, 5, 6, 7, 8);",
           db="old")
    tables = ["SELECT id, encode(ip, 'hex'), remote_ip, country, province,"
              " city, isp FROM addrs ORDER BY id",
              "SELECT * FROM t_bucket ORDER BY ts",
              "SELECT * FROM t_hour ORDER BY ts",
              "SELECT * FROM procs ORDER BY id",
              "SELECT * FROM ifaces ORDER BY id",
              "SELECT * FROM meta ORDER BY host, key"]
    before = [c.psql(q, db="old") for q in tables]
    drive = e2e.sh(*ro.drive_args(c.url("old"), "h0", 5, 20,
                                  extra=["--no-maintain"]), timeout=300)
    assert c.psql("SELECT version FROM itm_schema", db="old") == [["3"]]
    for q, b in zip(tables, before):
        rows = c.psql(q, db="old")
        # Every old row as it was, beside pg_drive's new ones.
        assert [r for r in rows if r in b] == b, q
        assert len(rows) > len(b) or "t_hour" in q, q
    assert c.psql("SELECT id, asn FROM addrs WHERE id IN (70, 71)"
                  " ORDER BY id", db="old") == [["70", "Unknown"],
                                                 ["71", "Unknown"]]
    win = ["--by", "asn", "--since", "@0", "--until", "@%d" % (LAST + 1)]
    assert top_csv(itm_bin, *win, "--db", c.url("old"), "--host",
                   "h9") == {"Unknown": (11 + 21, 12 + 22, 1 + 3, 2 + 4)}
    assert top_csv(itm_bin, *win, "--db", c.url("old"), "--host",
                   "h0") == asn_sums(drive.stdout)
    # Opening it again is no migration at all.
    e2e.sh(*ro.drive_args(c.url("old"), "h0", 6, 1,
                          extra=["--no-maintain"]), timeout=300)
    assert c.psql("SELECT version FROM itm_schema", db="old") == [["3"]]


def test_pg_errors(stores, itm_bin):
    c, path, _, _ = stores
    r = query(itm_bin, "DELETE FROM t_bucket", "--db", c.url(), check=False)
    assert r.returncode == 2 and "read-only" in r.stderr, r.stderr
    r = query(itm_bin, "SELECT 1; SELECT 2", "--db", c.url(), check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    r = query(itm_bin, "top", "--host", "nosuch", "--db", c.url(),
              check=False)
    assert r.returncode == 2 and "nosuch" in r.stderr, r.stderr
    r = query(itm_bin, "top", "--host", "h0", "--db", path, check=False)
    assert (r.returncode == 2 and "postgresql://" in r.stderr and
            r.stderr.count("\n") == 1), r.stderr
    url = "postgresql://itm:s3cret@/nodb?host=%s&port=1" % c.dir
    r = query(itm_bin, "SELECT 1", "--db", url, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "s3cret" not in r.stderr and "itm:***@" in r.stderr, r.stderr
    assert c.psql("SELECT count(*) FROM t_bucket")[0][0] != "0"


def grafana_blocks(page):
    """The ```sql blocks of the PostgreSQL section of a docs page (to the
    next heading of its level or above, outside code blocks)."""
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    m = re.search(r"^(#+) .*`--db postgresql://…`", text, re.M)
    sect = text[m.end():]
    end = re.search(r"^#{1,%d} " % len(m.group(1)),
                    re.sub(r"```.*?```", lambda b: " " * len(b.group(0)),
                           sect, flags=re.S), re.M)
    sect = sect[:end.start()] if end else sect
    return re.findall(r"```sql\n(.*?)```", sect, re.S)


def grafana_expand(sql, frm, to):
    """The PostgreSQL data source's macros, expanded as Grafana does."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def group(m):
        n = int(m.group(3)[:-1]) * units[m.group(3)[-1]]
        out = "floor(%s/%d)*%d" % (m.group(2), n, n)
        return out + (' AS "time"' if m.group(1) else "")
    sql = re.sub(r"\$__unixEpochGroup(Alias)?\((\w+),\s*'(\w+)'\)", group,
                 sql)
    return re.sub(r"\$__unixEpochFilter\((\w+)\)",
                  lambda m: "%s >= %d AND %s <= %d" % (m.group(1), frm,
                                                       m.group(1), to), sql)


def test_readme_grafana_queries_run(stores):
    c, _, (rows0, _), (rows1, _) = stores
    blocks = grafana_blocks("docs/store-and-query.md")
    assert len(blocks) >= 2
    assert blocks == grafana_blocks("docs/zh-CN/store-and-query.md")
    for sql in blocks:
        assert "$__" in sql  # written for Grafana
        out = c.psql(grafana_expand(sql, ro.START, LAST))
        assert out, sql
    # The first one (bytes per hour and host) adds up to each host's truth
    # over a range that holds the first day's row (it starts at 00:00).
    per_host = {}
    frm = ro.floor(ro.START, ro.D)
    for t, host, b in c.psql(grafana_expand(blocks[0], frm, LAST)):
        per_host[host] = per_host.get(host, 0) + int(b)
    want = {h: sum(v[0] + v[1] for _, _, _, _, v in rows)
            for h, rows in (("h0", rows0), ("h1", rows1))}
    assert per_host == want
