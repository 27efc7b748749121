#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The ClickHouse store against PostgreSQL and SQLite, same machine, same
run (issue 25, item 5).  As root, after `ninja -C build`:

    bench/ch_bench.py [--procs 4] [--addrs 10000] [--drains 20]
                      [--rows 50000000] [--hosts 50]
                      [--bench-baseline OTHER/build/bench/ch_bench --runs 3]

Starts a throwaway clickhouse-server (tests/e2e/ch_server.py) in a network
namespace of its own (listening on that namespace's loopback; removed on
exit) and a throwaway PostgreSQL (tests/e2e/pg_cluster.py, Unix socket
only), then:

 1. rows/s: build/bench/ch_bench, PROCS simulated monitors (processes, each
    its own --db-host) doing DRAINS drains of ADDRS addresses through the
    store's own writer, into PostgreSQL (the baseline), then ClickHouse,
    then the 2x2 cluster (tests/e2e/ch_cluster.py: four servers and
    ZooKeeper in a namespace of their own, joined to ours by a veth),
    monitor i through node i % 4; ratio against PostgreSQL; with
    --bench-baseline, that build and ours in turn, --runs rounds;
 2. bytes on disk per address row, the same rows (one monitor) in each:
    ClickHouse system.parts bytes_on_disk after OPTIMIZE ... FINAL,
    PostgreSQL pg_total_relation_size of every table, the SQLite file;
 3. `query top --since 24h` (the real CLI) over ROWS address rows that the
    server generates itself (INSERT ... SELECT ... FROM numbers(N), shaped
    as the store writes them: HOSTS monitors, one drain a minute over the
    last 24 h, their commit and state rows), median of 5, and what the
    server read for it (system.query_log);
 4. (--parts 4) where one monitor's drains go: each statement's time and
    CPU, parts per drain per table, merges, files; ZooKeeper requests per
    drain on the cluster.
"""

import argparse
import re
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import ch_server as chs  # noqa: E402
import pg_cluster as pgc  # noqa: E402

try:
    import ch_cluster  # the 2 shards x 2 replicas harness, when present
except ImportError:
    ch_cluster = None

BIN = os.environ.get("ITM_BIN", os.path.join(ROOT, "build",
                                             "ip_traffic_monitor_cli"))
BENCH = os.path.join(ROOT, "build", "bench", "ch_bench")
NS = "itmchb%d" % os.getpid()

# The server logs every query (system.query_log) so that part 3 can say
# what `query top` read.
QUERY_LOG = """  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
  <part_log><database>system</database><table>part_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></part_log>
</yandex>"""


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          **kw)


def in_ns(*argv, **kw):
    return sh("nsenter", "--net=/run/netns/" + NS, *argv, **kw)


def ch_server():
    s = chs.Server(NS, port=18323)
    for name, old, new in (
            ("config.xml", "</yandex>", QUERY_LOG),
            ("users.xml", "<profiles><default></default></profiles>",
             "<profiles><default><log_queries>1</log_queries>"
             "</default></profiles>")):
        path = os.path.join(s.dir, name)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace(old, new))
    return s.start()


TARGETS = ("PostgreSQL", "ClickHouse, one server", "ClickHouse, 2x2 cluster")


def throughput(a, pg, ch, cluster, bench=None, db="itm_tp", quiet=False):
    """Part 1 with one build of build/bench/ch_bench (`bench`) into fresh
    databases `db`: {target: rows/s}, after checking every row is there."""
    if db != "itm_tp":
        pg.psql("CREATE DATABASE %s" % db)
    targets = [pg.url(db), ch.url(db)]
    if cluster:
        # monitor i through node i % 4, in the order s1r1, s2r1, s1r2,
        # s2r2: every node takes inserts, each shard from two monitors
        via = cluster.attach(NS)
        nodes = [cluster.nodes[i] for i in (0, 2, 1, 3)]
        targets.append(",".join(n.url(db, via=via) for n in nodes))
    out = in_ns(bench or BENCH, str(a.procs), str(a.addrs), str(a.drains),
                *targets, timeout=3600).stdout
    if not quiet:
        print("### 1. Rows per second, simulated monitors (baseline:"
              " PostgreSQL)\n")
        print(out.replace("| 1 postgresql", "| 1 PostgreSQL")
              .replace("| 2 clickhouse", "| 2 ClickHouse, one server")
              .replace("| 3 clickhouse", "| 3 ClickHouse, 2x2 cluster"))
    rows = a.procs * a.addrs * a.drains
    counts = [("PostgreSQL", pg.psql("SELECT count(*) FROM traffic",
                                     db=db)[0][0]),
              ("ClickHouse", ch.query("SELECT count() FROM %s.traffic" % db)
               [0][0])]
    if cluster:
        cluster.sync(db)
        counts.append(("the cluster (Distributed)", cluster.nodes[0].query(
            "SELECT count() FROM %s.traffic" % db)[0][0]))
    if not quiet:
        print("address rows stored: %s (expected %d each)\n" % (
            ", ".join("%s %s" % c for c in counts), rows))
    if any(int(c) != rows for _, c in counts):
        raise SystemExit("stored row counts differ from what was written"
                         " (%s: %s)" % (db, counts))
    got = {}
    for line in out.splitlines():
        m = re.match(r"\| (\d+) \S+ \| (\d+) \|", line)
        if m:
            got[TARGETS[int(m.group(1)) - 1]] = int(m.group(2))
    return got


def drop(db, pg, ch, cluster):
    """A run's databases, once counted: idle replicated tables would keep
    the servers and ZooKeeper busy through the next runs."""
    pg.psql("DROP DATABASE %s" % db)
    run(ch, "DROP DATABASE %s" % db)
    for n in cluster.nodes if cluster else ():
        n.query("DROP DATABASE IF EXISTS %s" % db, timeout=300)


def throughput_rounds(a, pg, ch, cluster):
    """Part 1, this build against a.bench_baseline (another build of
    build/bench/ch_bench: the store's writer is linked in), a.runs rounds,
    interleaved (the first of the pair alternating), each round into
    fresh databases: medians, and ours / theirs per target."""
    bins = [("before", a.bench_baseline), ("after", BENCH)]
    got = {b: [] for b, _ in bins}
    loads = [loadavg()]
    print("### 1. Rows per second, simulated monitors: %d rounds, before"
          " (%s) and after (this build) interleaved\n" % (
              a.runs, a.bench_baseline))
    print("%d monitors x %d drains of %d addresses per target and run\n"
          % (a.procs, a.drains, a.addrs))
    print("| round | build | %s | load average after |\n|---|---|%s---|" % (
        " | ".join("%s rows/s" % t for t in TARGETS[:2 + bool(cluster)]),
        "---|" * (2 + bool(cluster))))
    for rnd in range(a.runs):
        for b, binary in (bins if rnd % 2 == 0 else bins[::-1]):
            db = "itm_tp_%s%d" % (b, rnd)
            r = throughput(a, pg, ch, cluster, binary, db, quiet=True)
            got[b].append(r)
            drop(db, pg, ch, cluster)
            loads.append(loadavg())
            print("| %d | %s | %s | %s |" % (
                rnd + 1, b, " | ".join("%d" % r[t] for t in TARGETS
                                       if t in r), loads[-1]), flush=True)
    print("\n| target | before: median rows/s | after: median rows/s |"
          " after / before | vs PostgreSQL before | vs PostgreSQL after |"
          "\n|---|---|---|---|---|---|")
    med = {b: {t: statistics.median(r[t] for r in got[b])
               for t in got[b][0]} for b in got}
    for t in med["after"]:
        print("| %s | %d | **%d** | %.2f | %.2f | %.2f |" % (
            t, med["before"][t], med["after"][t],
            med["after"][t] / med["before"][t],
            med["before"][t] / med["before"]["PostgreSQL"],
            med["after"][t] / med["after"]["PostgreSQL"]))
    print("\nevery run's address rows counted in every target:"
          " %d each\n" % (a.procs * a.addrs * a.drains))


def events(node):
    return {k: int(v) for k, v in node.query(
        "SELECT event, value FROM system.events")}


def statement(q):
    """What a logged statement of the writer is, by its first words."""
    for pat, name in ((r"INSERT INTO \w+\.itm_stage", "phase 1: INSERT,"
                       " stage"),
                      (r"INSERT INTO \w+\.itm_data", "phase 2: INSERT"
                       " SELECT into itm_data + 3 views"),
                      (r"TRUNCATE", "TRUNCATE the stage")):
        if re.match(pat, q):
            return name
    return None


def drain_profile(a, ch, cluster):
    """Where one monitor's drains go, per build: each statement's time
    and CPU (system.query_log, its ProfileEvents), the parts each drain
    creates and the merges during the run (system.part_log), files the
    server created; on the cluster (one monitor through s1r1) ZooKeeper
    requests, files and fetches per drain, summed over the four nodes
    (system.events)."""
    bins = [("after", BENCH)]
    if a.bench_baseline:
        bins.insert(0, ("before", a.bench_baseline))
    print("### 4. Where a drain's time goes: one monitor, %d drains of %d"
          " addresses, back to back\n" % (a.drains, a.addrs))
    for b, binary in bins:
        db = "itm_prof_%s" % b
        (t0,), = ch.query("SELECT now()")
        e0 = events(ch)
        in_ns(binary, "1", str(a.addrs), str(a.drains), ch.url(db),
              timeout=3600)
        time.sleep(5)  # the merges the run started
        e1 = events(ch)
        run(ch, "SYSTEM FLUSH LOGS")
        rows = ch.query(
            "SELECT query, query_duration_ms, written_rows, read_rows,"
            " ProfileEvents.Values[indexOf(ProfileEvents.Names,"
            " 'UserTimeMicroseconds')], ProfileEvents.Values[indexOf("
            "ProfileEvents.Names, 'SystemTimeMicroseconds')],"
            " ProfileEvents.Values[indexOf(ProfileEvents.Names, 'FileOpen')]"
            " FROM system.query_log WHERE type = 2 AND event_time >="
            " toDateTime('%s') AND query LIKE '%%%s.%%'" % (t0, db))
        kinds = {}
        for q, *v in rows:
            k = statement(unescape(q))
            if k:
                kinds.setdefault(k, []).append([int(x) for x in v])
        print("%s (%s), ClickHouse one server, load average %s:\n" % (
            b, binary, loadavg()))
        print("| statement | per drain | wall ms | user CPU ms | system CPU"
              " ms | files opened | rows written | rows read |\n"
              "|---|---|---|---|---|---|---|---|")
        for k, v in sorted(kinds.items()):
            med = [statistics.median(x[i] for x in v) for i in range(6)]
            print("| %s | %.1f | %.0f | %.1f | %.1f | %.0f | %.0f | %.0f |"
                  % (k, len(v) / a.drains, med[0], med[3] / 1e3,
                     med[4] / 1e3, med[5], med[1], med[2]))
        print("\n(medians over the run)\n")
        print("| table | parts written per drain | merges | rows merged |"
              " merge wall ms in all |\n|---|---|---|---|---|")
        for t, new, m, mr, ms in ch.query(
                "SELECT table, countIf(event_type = 1), countIf(event_type"
                " = 2), sumIf(rows, event_type = 2), sumIf(duration_ms,"
                " event_type = 2) FROM system.part_log WHERE database ="
                " '%s' GROUP BY table ORDER BY table" % db):
            print("| %s | %.1f | %s | %s | %s |" % (
                t, int(new) / a.drains, m, mr, ms))
        print("\nthe server in all, per drain (system.events, the run and"
              " 5 s after): %s\n" % ", ".join(
                  "%s %.0f" % (k, (e1.get(k, 0) - e0.get(k, 0)) / a.drains)
                  for k in ("FileOpen", "Merge", "MergedRows",
                            "InsertedRows", "Query")))
        if not cluster:
            continue
        via = cluster.attach(NS)
        node = cluster.nodes[0]
        e0 = [events(n) for n in cluster.nodes]
        in_ns(binary, "1", str(a.addrs), str(a.drains),
              node.url(db, via=via), timeout=3600)
        cluster.sync(db)
        time.sleep(5)
        e1 = [events(n) for n in cluster.nodes]
        keys = sorted({k for e in e1 for k in e if k.startswith("ZooKeeper")
                       or k in ("FileOpen", "Merge", "MergedRows",
                                "ReplicatedPartFetches",
                                "DuplicatedInsertedBlocks")})
        print("%s, the 2x2 cluster (one monitor through s1r1), per drain,"
              " four nodes summed (system.events; the run, SYSTEM SYNC"
              " REPLICA and 5 s): %s\n" % (b, ", ".join(
                  "%s %.1f" % (k, sum(x.get(k, 0) - y.get(k, 0)
                                      for x, y in zip(e1, e0)) / a.drains)
                  for k in keys)))


def ch_bytes(ch, db):
    for (t,) in ch.query("SELECT name FROM system.tables WHERE database ="
                         " '%s' AND engine LIKE '%%MergeTree'" % db):
        run(ch, "OPTIMIZE TABLE %s.%s FINAL" % (db, t))
    return {t: (int(r), int(b)) for t, r, b in ch.query(
        "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts"
        " WHERE database = '%s' AND active GROUP BY table" % db)}


def pg_bytes(pg, db):
    pg.psql("VACUUM", db=db)
    (b,), = pg.psql("SELECT sum(pg_total_relation_size(c.oid)) FROM"
                    " pg_class c JOIN pg_namespace n ON n.oid ="
                    " c.relnamespace WHERE c.relkind = 'r' AND"
                    " n.nspname = 'public'", db=db)
    return int(b)


def bytes_per_row(a, pg, ch, tmp):
    db = os.path.join(tmp, "size.db")
    in_ns(BENCH, "1", str(a.addrs), str(a.drains), pg.url("itm_size"),
          ch.url("itm_size"), db, timeout=3600)
    rows = a.addrs * a.drains
    tables = ch_bytes(ch, "itm_size")
    sizes = [("ClickHouse, all tables (after OPTIMIZE FINAL)",
              sum(b for _, b in tables.values()))]
    sizes += [("ClickHouse `%s` (%d rows)" % (t, r), b)
              for t, (r, b) in sorted(tables.items())]
    sizes += [("PostgreSQL (pg_total_relation_size)",
               pg_bytes(pg, "itm_size")),
              ("SQLite (file)", os.path.getsize(db))]
    print("### 2. Bytes on disk per address row (%d drains of %d"
          " addresses, one monitor)\n" % (a.drains, a.addrs))
    print("| store | bytes | bytes per address row | vs ClickHouse |\n"
          "|---|---|---|---|")
    for name, b in sizes:
        print("| %s | %d | %.1f | %.1fx |" % (name, b, b / rows,
                                             b / sizes[0][1]))
    print()


def column_exprs(labels):
    """What the store writes in each column of itm_data, from the
    generator's variables (see load()).  A column not here means the schema
    changed: the generator must learn it, not guess."""
    e = {
        "host": "concat('mon-', toString(1000 + h))",
        "ts": "toInt64(t0 + mi * 60)",
        "seconds": "toUInt32(60)",
        "iface": "'eth0'",
        "kind": "toUInt8(3)",
        # 198.18.0.0/15 and 2001:db8::/32 (test ranges); the 16 bytes
        # in hex (hex() of an integer drops leading zero bytes: 2^32 + x
        # keeps eight digits after its "01")
        "ip": "lower(if(a % 2 = 0, concat('00000000000000000000FFFF',"
              " hex(toUInt32(3323068416 + a))), v6hex))",
        "remote_ip": "if(a % 2 = 0, IPv4NumToString(toUInt32(3323068416 +"
                     " a)), IPv6NumToString(toFixedString(unhex(v6hex),"
                     " 16)))",
        "pid": "toUInt32(if(a % 7 = 0, 1000 + a % 50, 0))",
        "process": "if(a % 7 = 0, 'nginx', '-')",
        # a few heavy talkers among many small ones
        "tx_bytes": "toUInt64((1000 + a % 1500) * if(a % 97 = 0, 400, 1))",
        "rx_bytes": "toUInt64((2000 + a % 900) * if(a % 89 = 0, 300, 1))",
        "tx_packets": "toUInt64(3 + a % 5)",
        "rx_packets": "toUInt64(4 + a % 3)",
        "attempt": "toUInt64(mi + 1)",
        "instance": "toUInt64(0)",
        "seq": "toUInt64(0)",
        "ctr_packets": "emptyArrayUInt64()",
        "ctr_bytes": "emptyArrayUInt64()",
        "ok": "'itm'",
    }
    sets = [("中国", "江苏省", "南京市", "中国电信", "AS4134"),
            ("中国", "广东省", "深圳市", "中国移动", "AS9808"),
            ("美国", "加利福尼亚州", "芒廷维尤", "Google", "AS15169"),
            ("日本", "东京都", "东京", "NTT", "AS2914"),
            ("Unknown",) * 5]
    for i, name in enumerate(labels):
        # transform(): an array literal indexed per row is built per row
        e[name] = "transform(a %% 5, [0, 1, 2, 3], [%s], 'Unknown')" % (
            ", ".join("'%s'" % (s[i] if i < len(s) else "Unknown")
                      for s in sets[:4]))
    return e


def run(ch, sql):
    """A statement without a result (query() asks for one), however long
    it takes (loading 50 million rows does)."""
    post_body(ch, sql, "default")


def view_selects(ch, db):
    """{rollup: the SELECT of the materialized view that fills it}"""
    selects = {}
    for v, in ch.query("SELECT name FROM system.tables WHERE database ="
                       " '%s' AND engine = 'MaterializedView'" % db):
        (create,), = ch.query("SHOW CREATE TABLE %s.%s" % (db, v))
        create = unescape(create)
        target = re.search(r" TO (\S+) ", create).group(1)
        selects[target] = (v, create[create.index(") AS SELECT ") + 5:])
    return selects


def fill_rollups(ch, selects, hosts):
    """The rollups as the views would have filled them from the generated
    rows: host by host (the sort key prunes the others; one GROUP BY over
    50 M rows would hold them all in memory at once)."""
    for target, (_, sel) in sorted(selects.items()):
        m = re.search(r" WHERE (.*) GROUP BY ", sel)
        assert m, sel
        for h in range(hosts):
            run(ch, "INSERT INTO %s %s WHERE host = 'mon-%d' AND (%s)%s" % (
                target, sel[:m.start()], 1000 + h, m.group(1),
                sel[m.end() - len(" GROUP BY "):]))


def load(ch, db, rows, hosts):
    """rows address rows from `hosts` monitors, one drain a minute over
    the 24 h that end now, each with its state and commit rows."""
    # the table the store promotes whole drains into (itm_rows before the
    # rollups came); its materialized views fill the rollups from these
    # INSERTs as they do from the store's
    tables = {r[0] for r in ch.query("SHOW TABLES FROM %s" % db)}
    table = "itm_data" if "itm_data" in tables else "itm_rows"
    cols = [r[0] for r in ch.query("DESCRIBE TABLE %s.%s" % (db, table))]
    fixed = ("host ts seconds iface kind ip remote_ip pid process tx_bytes"
             " rx_bytes tx_packets rx_packets attempt instance seq"
             " ctr_packets ctr_bytes ok").split()
    labels = [c for c in cols if c not in fixed]
    e = column_exprs(labels)
    missing = [c for c in cols if c not in e]
    if missing:
        raise SystemExit("%s has columns the generator does not know: %s"
                         % (table, missing))
    per = rows // (hosts * 1440)  # addresses per drain
    t0 = (int(time.time()) // 60) * 60 - 1439 * 60
    # number = ((host * 1440) + minute) * per + j: host-major, close to
    # the table's order, so the server sorts less.  Address a moves slowly
    # through a pool of 200 000 over the day, unique within a drain.
    inner = ("SELECT intDiv(number, %d) AS h, intDiv(number, %d) %% 1440 AS mi,"
             " number %% %d AS j, (h * 4001 + mi * 13 + j) %% 200000 AS a,"
             " concat('20010DB800000000', substring(hex(4294967296 +"
             " h), 3), substring(hex(4294967296 + a), 3)) AS v6hex,"
             " %d AS t0 FROM numbers(%d)" % (1440 * per, per, per, t0,
                                             hosts * per * 1440))
    sel = ", ".join("%s AS %s" % (e[c], c) for c in cols)
    t = time.monotonic()
    # The materialized views would sum every block into three rollups as
    # it comes (5.9 M rows in 219 s here): detached for the load, the
    # rollups filled after it by the views' own SELECT over the generated
    # rows, one host (mon-*) at a time, then attached again.  What the
    # rollups hold is what the views would have written, summed per host
    # instead of per block (the same sums: SummingMergeTree).
    selects = view_selects(ch, db)
    for view, _ in selects.values():
        run(ch, "DETACH TABLE %s.%s" % (db, view))
    try:
        run(ch, "INSERT INTO %s.%s (%s) SELECT %s FROM (%s)" %
            (db, table, ", ".join(cols), sel, inner))
        # the state (kind 4) and commit (kind 5) row of every drain
        for kind, iface in ((4, "'eth0'"), (5, "''")):
            e2 = dict(e, kind="toUInt8(%d)" % kind, iface=iface, ip="''",
                      remote_ip="''", pid="toUInt32(0)", process="''",
                      tx_bytes="toUInt64(0)", rx_bytes="toUInt64(0)",
                      tx_packets="toUInt64(0)", rx_packets="toUInt64(0)")
            for name in labels:
                e2[name] = "''"
            if kind == 4:  # the drained map and the kernel's counters
                e2["instance"] = "toUInt64(1 + h)"
                e2["seq"] = "toUInt64(mi + 1)"
                e2["ctr_packets"] = e2["ctr_bytes"] = \
                    "[toUInt64(mi), 0, 0, 0, 0, 0]"
            run(ch, "INSERT INTO %s.%s (%s) SELECT %s FROM (SELECT"
                     " intDiv(number, %d) AS mi, number %% %d AS h, %d AS t0"
                     " FROM numbers(%d))" %
                     (db, table, ", ".join(cols),
                      ", ".join("%s AS %s" % (e2[c], c) for c in cols),
                      hosts, hosts, t0, hosts * 1440))
        # host by host (the sort key prunes the others): one GROUP BY
        # over all 50 M rows would hold them all in memory at once
        fill_rollups(ch, selects, hosts)
    finally:
        for view, _ in selects.values():
            run(ch, "ATTACH TABLE %s.%s" % (db, view))
    return per * hosts * 1440, t0, time.monotonic() - t


def query_top(a, ch):
    db = "itm_big"
    # the schema, as the store creates it (one drain of one address, in
    # 2026-01: outside the window)
    in_ns(BENCH, "1", "1", "1", ch.url(db))
    n, t0, secs = load(ch, db, a.rows, a.hosts)
    (stored,), = ch.query("SELECT count() FROM %s.traffic WHERE ts >= %d"
                          % (db, t0))
    (size,), = ch.query("SELECT sum(bytes_on_disk) FROM system.parts"
                        " WHERE database = '%s' AND active" % db)
    print("### 3. `query top --since 24h` over %d address rows\n" % n)
    print("loaded server-side in %.1f s (%d monitors x 1440 drains x %d"
          " addresses); `traffic` shows %s of them in the window; %.1f MiB"
          " on disk (not merged)\n" % (secs, a.hosts, n // a.hosts // 1440,
                                       stored, int(size) / 1048576))
    if int(stored) != n:
        raise SystemExit("the views do not show the generated rows")
    if a.baseline:
        compare(a, ch, db)
        return
    run(ch, "SYSTEM FLUSH LOGS")
    (since,), = ch.query("SELECT now()")
    times, runs = [], []
    for _ in range(5):
        t = time.monotonic()
        try:
            r = top(BIN, ch, db, ["--since", "24h", "-n", "10"], a.timeout)
        except subprocess.TimeoutExpired:
            r = None
        times.append(time.monotonic() - t)
        runs.append(r)
        if r is None or r.returncode:
            break  # a figure of a failure is no figure
    r = runs[-1]
    if r is None:
        print("`query top --since 24h` did not finish in %d s (killed)\n"
              % a.timeout)
    else:
        print("```\n$ ip_traffic_monitor_cli query top --db clickhouse://"
              "... --since 24h -n 10\n%s%s(exit status %d)\n```\n" % (
                  r.stdout, r.stderr, r.returncode))
    ok = len(runs) == 5 and all(x and not x.returncode for x in runs)
    print("wall s: %s; %s\n" % (
        ", ".join("%.2f" % x for x in times),
        "**median of 5: %.2f s** (goal <= 1 s)" % statistics.median(times)
        if ok else "**no valid figure: the command failed**"))
    stmts = server_log(ch, since)
    if not ok:
        replay(ch, db, stmts)


def top(binary, ch, db, args, timeout):
    return subprocess.run(["nsenter", "--net=/run/netns/" + NS, binary,
                           "query", "top", "--db", ch.url(db)] + args,
                          capture_output=True, text=True, timeout=timeout)


def server_log(ch, since):
    """What the server ran since `since` (system.query_log), one line per
    kind of statement; the statements."""
    time.sleep(1)
    run(ch, "SYSTEM FLUSH LOGS")
    # statements of the first run (QueryStart: also those never finished)
    logged = ch.query(
        "SELECT query_id, any(replaceRegexpAll(query, '[\\t\\n]', ' ')),"
        " max(query_duration_ms), max(read_rows), max(read_bytes),"
        " max(memory_usage), max(type), max(result_rows) FROM"
        " system.query_log WHERE"
        " event_time >= toDateTime('%s') AND query NOT LIKE"
        " '%%query_log%%' AND query NOT LIKE 'SYSTEM%%' AND query NOT LIKE"
        " 'SELECT now()%%' AND query LIKE '%%WithNamesAndTypes'"
        " GROUP BY query_id ORDER BY min(event_time)"
        " LIMIT 1000" % since)
    stmts = [unescape(x[1]) for x in logged]
    print("what the server ran (system.query_log; %d statements):\n"
          % len(logged))
    print("| ms | rows read | MiB read | MiB memory | rows out | query |\n"
          "|---|---|---|---|---|---|")
    shown = set()
    for (_, _, ms, rows, b, mem, typ, out), q in zip(logged, stmts):
        shape = re.sub(r"'[^']*'|[0-9]+", "?", q)
        if shape in shown:
            continue  # one line per kind of statement
        shown.add(shape)
        print("| %s | %s | %.1f | %.1f | %s | `%s` |" % (
            ms if typ != "1" else "unfinished", rows, int(b) / 1048576,
            int(mem) / 1048576, out, q[:120].replace("|", "/")))
    print()
    return stmts


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def compare(a, ch, db):
    """BIN against a.baseline over the same rows, interleaved (each round
    runs every case with both, the first of the pair alternating), so
    that the load of a shared machine falls on both: medians and ratios;
    then both over one fixed window must print the same bytes, equal to
    SQL sums over `traffic`; then what the server ran for each."""
    (host,), = ch.query("SELECT host FROM %s.itm_day WHERE kind = 3 AND"
                        " host LIKE 'mon-%%' LIMIT 1" % db)  # a loaded one
    cases = [("all hosts, -n 10", ["-n", "10"]),
             ("all hosts, -n 0", ["-n", "0"]),
             ("--host %s, -n 10" % host, ["--host", host, "-n", "10"]),
             ("--host %s, -n 0" % host, ["--host", host, "-n", "0"])]
    bins = [("before", a.baseline), ("after", BIN)]
    times = {(c, b): [] for c, _ in cases for b, _ in bins}
    loads = [loadavg()]
    for rnd in range(a.runs):
        for c, args in cases:
            for b, binary in (bins if rnd % 2 == 0 else bins[::-1]):
                t = time.monotonic()
                r = top(binary, ch, db, ["--since", "24h", "--csv"] + args,
                        a.timeout)
                times[(c, b)].append(time.monotonic() - t)
                if r.returncode:
                    raise SystemExit("%s %s: %s" % (b, c, r.stderr))
        loads.append(loadavg())
    print("`query top --since 24h --csv` (output to a pipe), %d rounds,"
          " before and after interleaved; load average per round: %s\n"
          % (a.runs, "; ".join(loads)))
    print("| case | before: wall s | after: wall s | before median |"
          " after median | after / before |\n|---|---|---|---|---|---|")
    for c, _ in cases:
        m = [statistics.median(times[(c, b)]) for b, _ in bins]
        print("| %s | %s | %s | %.2f | **%.2f** | %.3f |" % (
            c, ", ".join("%.2f" % x for x in times[(c, "before")]),
            ", ".join("%.2f" % x for x in times[(c, "after")]), m[0], m[1],
            m[1] / m[0]))
    print()
    # exactness over a fixed window that cuts two hours and minutes
    (now,), = ch.query("SELECT toUnixTimestamp(now())")
    lo, hi = int(now) - 86400 + 1234, int(now) - 567
    out = {}
    for b, binary in bins:
        for args in ([], ["--host", host]):
            r = top(binary, ch, db, ["--since", "@%d" % lo, "--until",
                                     "@%d" % hi, "-n", "0", "--csv"] + args,
                    a.timeout)
            assert r.returncode == 0, r.stderr
            out[(b, bool(args))] = r.stdout
    same = all(out[("before", h)] == out[("after", h)] for h in (0, 1))
    rows = [x.split(",") for x in out[("after", False)].splitlines()[1:]]
    (tb, rb), = ch.query("SELECT sum(tx_bytes), sum(rx_bytes) FROM %s.traffic"
                         " WHERE ts >= %d AND ts < %d" % (db, lo, hi))
    sums = [sum(int(x[1]) for x in rows), sum(int(x[2]) for x in rows)]
    print("fixed window @%d..@%d, -n 0 --csv: before and after print %s"
          " (%d addresses, %d bytes of output); their tx/rx sums %d / %d,"
          " `traffic` in SQL %s / %s: %s\n" % (
              lo, hi, "the same bytes" if same else "DIFFERENT output",
              len(rows), len(out[("after", False)]), sums[0], sums[1], tb,
              rb, "equal" if sums == [int(tb), int(rb)] else "NOT EQUAL"))
    # -n 10 (the ranking `query top` may do another way than -n 0) in
    # every format and rank, all hosts and one: the same bytes before and
    # after, and the CSV the first lines of -n 0's
    fixed = ["--since", "@%d" % lo, "--until", "@%d" % hi, "-n", "10"]
    variants = [["--csv"], ["--json"], []] + [
        ["--tx", "--csv"], ["--rx", "--csv"], ["--host", host, "--csv"],
        ["--host", host, "--rx", "--json"]]
    differ = []
    for args in variants:
        got = {}
        for b, binary in bins:
            r = top(binary, ch, db, fixed + args, a.timeout)
            assert r.returncode == 0, r.stderr
            got[b] = r.stdout
        if got["before"] != got["after"]:
            differ.append(" ".join(args))
    head = {}
    for h in (0, 1):
        r = top(BIN, ch, db, fixed + ["--csv"] + (["--host", host] if h
                                                   else []), a.timeout)
        head[h] = r.stdout == "".join(
            out[("after", h)].splitlines(True)[:11])
    print("the same window, -n 10 in %d variants (%s): before and after"
          " print %s; -n 10 --csv is the first 10 rows of -n 0 --csv: %s\n"
          % (len(variants), "; ".join(" ".join(v) or "table"
                                      for v in variants),
             "the same bytes" if not differ else
             "DIFFERENT output for " + ", ".join(differ),
             "yes (all hosts and --host)" if all(head.values()) else "NO"))
    same = same and not differ and all(head.values())
    for b, binary in bins:
        time.sleep(1.1)  # event_time is in seconds: not the last run's
        (since,), = ch.query("SELECT now()")
        top(binary, ch, db, ["--since", "24h", "-n", "10"], a.timeout)
        print("%s, all hosts, -n 10: " % b, end="")
        server_log(ch, since)
    if not same or sums != [int(tb), int(rb)]:
        raise SystemExit("before and after differ, or differ from SQL")


def unescape(v):
    """A TabSeparated field as text."""
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append({"t": "\t", "n": "\n", "0": "\0"}.get(v[i + 1],
                                                              v[i + 1]))
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def post_body(ch, sql, db):
    """A statement in the request body (not the URL, which the server
    limits to about 16 KB) and up to 256 MiB long (max_query_size: 256 KiB
    by default): its TabSeparated rows and the time it took."""
    import urllib.parse
    import urllib.request
    import itm_e2e as e2e
    q = urllib.parse.urlencode({"database": db, "user": "itm",
                                "password": chs.PASSWORD,
                                "max_query_size": 1 << 28})
    req = urllib.request.Request("http://127.0.0.1:%d/?%s" % (ch.port, q),
                                 data=sql.encode())
    t = time.monotonic()
    with e2e.in_netns(ch.ns):
        try:
            with urllib.request.urlopen(req, timeout=3600) as r:
                rows = [x.split("\t")
                        for x in r.read().decode().splitlines()]
        except urllib.error.HTTPError as e:
            raise SystemExit("ClickHouse: %s (in: %s)" % (
                e.read().decode(), sql[:300]))
    return rows, time.monotonic() - t


def replay(ch, db, statements):
    """Where the time of a failed `query top` goes: each kind of statement
    it sent, once, with the query in the request body; then the one that
    never reached the server, the names of the summed ids."""
    sums = [x for x in statements if " GROUP BY k" in x]
    if not sums:
        return
    for sql in sums:  # the first host with rows in the window
        rows, secs = post_body(ch, sql, db)
        ids = [r[0] for r in rows if r[0].lstrip("-").isdigit()]
        if ids:
            break
    if not ids:
        return
    names, nsecs = post_body(
        ch, "SELECT id, remote_ip FROM addrs WHERE id IN (%s)"
        " FORMAT TabSeparated" % ",".join(ids), db)
    (hosts,), = ch.query("SELECT uniqExact(host) FROM %s.ifaces" % db)
    print("replayed with the query in the request body: one per-host sum"
          " (%d ids) %.2f s, one per host: %s hosts; the names of its ids"
          " (%d bytes of"
          " ids: the CLI puts them in the URL, which the server refuses"
          " beyond about 16 KB, and a statement is limited to 256 KiB by"
          " default) %.2f s\n" % (
              len(ids), secs, hosts, len(",".join(ids)), nsecs))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--addrs", type=int, default=10000)
    p.add_argument("--drains", type=int, default=20)
    p.add_argument("--rows", type=int, default=50_000_000)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--timeout", type=int, default=120,
                   help="seconds one `query top` may take (part 3)")
    p.add_argument("--no-cluster", action="store_true",
                   help="part 1 without the 2x2 cluster")
    p.add_argument("--baseline", metavar="BIN",
                   help="part 3: time this build of the CLI against ours,"
                   " interleaved, and compare their output")
    p.add_argument("--runs", type=int, default=5,
                   help="part 3 with --baseline, part 1 with"
                   " --bench-baseline: rounds")
    p.add_argument("--bench-baseline", metavar="BENCH",
                   help="part 1: time this build of build/bench/ch_bench"
                   " (the store's writer is linked in) against ours,"
                   " interleaved, --runs rounds")
    p.add_argument("--parts", default="123",
                   help="which parts to run (default 123; 4: where a"
                   " drain's time goes)")
    a = p.parse_args()
    if a.rows < a.hosts * 1440:
        p.error("--rows must be at least --hosts x 1440")
    with open("/proc/loadavg") as f:
        load0 = " ".join(f.read().split()[:3])
    print("## ClickHouse store benchmark (`bench/ch_bench.py`)\n")
    print("kernel %s, %d CPUs, load average at start %s, ClickHouse %s,"
          " %s\n" % (platform.release(), os.cpu_count(), load0,
                     sh("dpkg-query", "-W", "-f", "${Version}",
                        "clickhouse-server").stdout,
                     sh(os.path.join(pgc.PG_BIN, "postgres"),
                        "--version").stdout.strip()))
    sh("ip", "netns", "add", NS)
    ch = pg = cluster = None
    try:
        sh("ip", "-n", NS, "link", "set", "lo", "up")
        ch = ch_server()
        pg = pgc.Cluster(port=54339).init().start()
        for db in ("itm_tp", "itm_size"):
            pg.psql("CREATE DATABASE %s" % db)
        if ("1" in a.parts or "4" in a.parts) and ch_cluster and \
                ch_cluster.available() and not a.no_cluster:
            cluster = ch_cluster.Cluster()
            cluster.start()
        if "1" in a.parts and a.bench_baseline:
            throughput_rounds(a, pg, ch, cluster)
        elif "1" in a.parts:
            throughput(a, pg, ch, cluster)
        if "2" in a.parts:
            bytes_per_row(a, pg, ch, ch.dir)
        if "3" in a.parts:
            query_top(a, ch)
        if "4" in a.parts:
            drain_profile(a, ch, cluster)
        with open("/proc/loadavg") as f:
            print("load average at the end: %s" %
                  " ".join(f.read().split()[:3]))
    finally:
        if cluster:
            cluster.teardown()
        if pg:
            pg.teardown()
        if ch:
            ch.teardown()
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
