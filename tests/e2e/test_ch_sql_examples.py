# SPDX-License-Identifier: MIT
"""The example SQL of docs/clickhouse-sizing.md (and its Chinese twin) runs
against a real ClickHouse server and answers right.  Debian's
clickhouse-server (tests/e2e/ch_server.py) in the test's namespace; three
simulated monitors (build/bench/ch_bench: the store's own writer, the same
code the daemon flushes with) write six drains of 40 labelled addresses in
the last half hour; every ```sql block of both pages is run, as written,
and its rows must equal what Python computes from the rows written (the
generator's formulas, mirrored here).  One block also goes through
`ip_traffic_monitor_cli query`, the way the page says to run them."""

import csv
import io
import ipaddress
import os
import re
import subprocess
import time

import pytest

import ch_server as chs
import itm_e2e as e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PAGES = ("docs/clickhouse-sizing.md", "docs/zh-CN/clickhouse-sizing.md")
MONITORS, DRAINS, ADDRS = 3, 6, 40
M32 = 0xFFFFFFFF
# bench/ch_bench.c's labels[], by address % 5 (the last: no geo data)
LABELS = [("中国", "江苏省", "南京市", "中国电信"),
          ("中国", "广东省", "深圳市", "中国移动"),
          ("美国", "加利福尼亚州", "芒廷维尤", "Google"),
          ("日本", "东京都", "东京", "NTT"),
          ("Unknown",) * 4]


def mix(m, k, seq, salt):
    """bench/ch_bench.c's mix(): 32-bit arithmetic."""
    x = ((k * 2654435761) & M32) ^ ((seq * 2246822519) & M32) ^ \
        ((m * 3266489917) & M32) ^ salt
    x ^= x >> 15
    x = (x * 2246822519) & M32
    x ^= x >> 13
    return x


def counters(m, k, seq):
    t, r = mix(m, k, seq, 0), mix(m, k, seq, 0x9E3779B9)
    tp, rp = 1 + t % 200, 1 + r % 300
    return tp * (40 + (t >> 8) % 1461), tp, rp * (40 + (r >> 8) % 1461), rp


def address(m, k):
    """bench/ch_bench.c's nth(), as the store prints it."""
    if k & 1:
        b = bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, m, 0, 0, 0]) + \
            k.to_bytes(4, "big")
        return ipaddress.IPv6Address(b).compressed
    return str(ipaddress.IPv4Address(k))


def written(base, monitors=MONITORS, drains=DRAINS, addrs=ADDRS):
    rows = []
    for m in range(monitors):
        for seq in range(1, drains + 1):
            for k in range(addrs):
                tx, txp, rx, rxp = counters(m, k, seq)
                c, p, city, isp = LABELS[k % 5]
                rows.append(dict(host="bench-%d" % m, ts=base + seq * 60,
                                 ip=address(m, k), country=c, province=p,
                                 city=city, isp=isp, tx=tx, rx=rx, txp=txp,
                                 rxp=rxp))
    return rows


def group(rows, key, val):
    out = {}
    for r in rows:
        k = key(r)
        out[k] = out.get(k, 0) + val(r)
    return out


def ranked(d):
    """[(key..., value)] by value descending, then key: the pages' ORDER BY."""
    items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
    return [list(k if isinstance(k, tuple) else (k,)) + [v] for k, v in items]


def expected(promql, rows):
    tx = lambda r: r["tx"]  # noqa: E731
    if promql.startswith("topk(10,"):
        return ranked(group(rows, lambda r: r["ip"], tx))[:10]
    for label in ("country", "province", "isp"):
        if promql == "sum by (%s) (ip_traffic_tx_bytes_total)" % label:
            return ranked(group(rows, lambda r: r[label], tx))
    if promql == 'ip_traffic_tx_bytes_total{country="中国"}':
        return ranked(group([r for r in rows if r["country"] == "中国"],
                            lambda r: (r["ip"], r["province"], r["city"],
                                       r["isp"]), tx))
    if promql.startswith("rate("):
        d = group(rows, lambda r: (r["ts"] // 300 * 300, r["ip"]), tx)
        return [[s, ip, v / 300] for (s, ip), v in sorted(d.items())]
    if promql.startswith('ip_traffic_tx_bytes_total{remote_ip="…"}'):
        one = [r for r in rows if r["ip"] == "2001:db8::1"]
        hours = sorted({r["ts"] // 3600 * 3600 for r in one})
        return [[h] + [sum(r[c] for r in one if r["ts"] // 3600 * 3600 == h)
                       for c in ("tx", "rx", "txp", "rxp")] for h in hours]
    if promql.startswith("sum by (country) (increase("):  # itm_day
        d = group(rows, lambda r: (r["ts"] // 86400 * 86400, r["country"]),
                  tx)
        return [[day, c, v] for (day, c), v in
                sorted(d.items(), key=lambda kv: (kv[0][0], -kv[1],
                                                  kv[0][1]))]
    if promql.startswith("sum by (instance)"):
        b = group(rows, lambda r: r["host"], lambda r: r["tx"] + r["rx"])
        return [[h, v, len({r["ip"] for r in rows if r["host"] == h})]
                for h, v in sorted(b.items(), key=lambda kv: (-kv[1],
                                                              kv[0]))]
    raise AssertionError("no expectation for the example %r: add one" %
                         promql)


def sizing(sql, rows):
    """A check of the result of one of the sizing section's queries."""
    if "rows_last_hour" in sql:  # every drain of the last hour, per host
        per = group(rows, lambda r: r["host"], lambda r: 1)
        return lambda got: {h: int(n) for h, n in got} == per
    if "system.parts" in sql:  # the tables, their rows and bytes
        return lambda got: any(int(r[1]) >= len(rows) and int(r[2]) > 0
                               for r in got)
    raise AssertionError("no check for the SQL block %r: add one" % sql)


def blocks(page):
    """Every SQL block of a page: (the PromQL its first line names at its
    end, or None; the block)."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    out = []
    for b in re.findall(r"```sql\n(.*?)```", text, re.S):
        first = b.split("\n", 1)[0]
        out.append((first.split("  -- ", 1)[1] if "  -- " in first
                    else None, b))
    return out


def typed(row, like):
    out = []
    for v, e in zip(row, like):
        if isinstance(e, float):
            out.append(pytest.approx(float(v), rel=1e-9))
        elif isinstance(e, int):
            out.append(int(v))
        else:
            out.append(v)
    return out


@pytest.fixture
def server(topo):
    s = chs.started(topo, 18133)
    yield s
    s.teardown()


def test_sql_examples_answer_right(topo, server, itm_bin):
    bench = os.path.join(os.path.dirname(itm_bin), "bench", "ch_bench")
    assert os.access(bench, os.X_OK), "build it: ninja -C build"
    en, zh = (blocks(p) for p in PAGES)
    assert sum(1 for q, _ in en if q) >= 9 and en == zh, \
        "the two pages' example SQL differ or are missing"

    base = int(time.time()) // 60 * 60 - 1800
    env = dict(os.environ, ITM_BENCH_BASE=str(base))
    p = e2e.nsx(topo.mns, bench, str(MONITORS), str(ADDRS), str(DRAINS),
                server.url(), env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = written(base)
    stored = {r[0] for r in server.query("SELECT DISTINCT remote_ip FROM"
                                         " itm.traffic")}
    assert stored == {r["ip"] for r in rows}

    for promql, sql in en:
        got = server.query(sql, db="itm")
        if promql is None:  # the sizing page's own measurements
            want = sizing(sql, rows)
            assert want(got), sql
            continue
        want = expected(promql, rows)
        assert len(want) > 0 and len(got) == len(want), promql
        assert [typed(g, w) for g, w in zip(got, want)] == want, promql

    # as the page says: through the CLI, read-only
    promql, sql = next(b for b in en if b[0])
    q = e2e.nsx(topo.mns, itm_bin, "query", "--db", server.url(), sql,
                check=False, timeout=60)
    assert q.returncode == 0, q.stderr
    want = expected(promql, rows)
    assert want[0][0] in q.stdout and str(want[0][1]) in q.stdout


def top(itm_bin, ns, db, *args):
    """`query top` as CSV: {remote_ip: (tx, rx, tx_packets, rx_packets)}
    and the text itself."""
    q = e2e.nsx(ns, itm_bin, "query", "top", "--db", db, "--csv", "-n",
                "0", *args, check=False, timeout=60)
    assert q.returncode == 0, q.stderr
    rows = list(csv.DictReader(io.StringIO(q.stdout)))
    got = {r["remote_ip"]: (int(r["tx_bytes"]), int(r["rx_bytes"]),
                            int(r["tx_packets"]), int(r["rx_packets"]))
           for r in rows}
    # ranked: sent + received bytes descending, then the name's bytes
    # (the callers check the sums against the generator's)
    assert [r["remote_ip"] for r in rows] == sorted(
        got, key=lambda ip: (-got[ip][0] - got[ip][1], ip.encode()))
    return got, q.stdout


def sums(rows, since, until, host=None):
    want = {}
    for r in rows:
        if since <= r["ts"] < until and host in (None, r["host"]):
            v = want.get(r["ip"], (0, 0, 0, 0))
            want[r["ip"]] = (v[0] + r["tx"], v[1] + r["rx"],
                             v[2] + r["txp"], v[3] + r["rxp"])
    return want


def test_query_top_many_addresses(topo, server, itm_bin, tmp_path):
    """`query top` over more addresses than a URL can list (the names of
    2,000 and more ids once made the server refuse the statement), every
    sum exact against the generator's formulas, for all hosts, one host,
    and a window cut inside an hour (the edge from the raw rows, the whole
    hour from itm_hour); one host's answer equals SQLite's for the same
    rows, byte for byte; and the same sums once retention dropped the raw
    rows of the cut hour."""
    bench = os.path.join(os.path.dirname(itm_bin), "bench", "ch_bench")
    monitors, drains, addrs = 2, 3, 2500
    # drains at h - 60, h and h + 60: one before the hour h, two in it
    h = int(time.time()) // 3600 * 3600 - 3600
    base = h - 120
    env = dict(os.environ, ITM_BENCH_BASE=str(base))
    url = server.url("itm_many")
    p = e2e.nsx(topo.mns, bench, str(monitors), str(addrs), str(drains),
                url, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = written(base, monitors, drains, addrs)
    now = int(time.time())

    got, _ = top(itm_bin, topo.mns, url, "--since", "24h")
    want = sums(rows, now - 86400, now + 1)
    assert len(want) > 3000 and got == want
    # from the middle of the minute before h to past the hour: the hour
    # whole from itm_hour, the drain before it cut off
    cut = ("--since", "@%d" % (h - 30), "--until", "@%d" % (h + 3630))
    got, ch_text = top(itm_bin, topo.mns, url, "--host", "bench-0", *cut)
    want = sums(rows, h - 30, h + 3630, "bench-0")
    assert len(want) == addrs and got == want

    db = str(tmp_path / "one.db")
    p = e2e.nsx(topo.mns, bench, "1", str(addrs), str(drains), db, env=env,
                timeout=120)
    assert p.returncode == 0, p.stderr
    _, lite_text = top(itm_bin, topo.mns, db, *cut)
    assert lite_text == ch_text

    # until inside the hour h: both its drains from the raw rows; then
    # retention drops the raw rows of h's day and the hour counts whole
    # from itm_hour, as query.c's horizons would cut it: the same sums
    edge = ("--since", "@%d" % (h - 30), "--until", "@%d" % (h + 90))
    want = sums(rows, h - 30, h + 90)
    assert len(want) > 3000 and top(itm_bin, topo.mns, url, *edge)[0] == want
    for table in ("itm_data", "itm_minute"):  # as maintain() drops them
        status, out = server.post("ALTER TABLE %s DROP PARTITION %d"
                                  % (table, h // 86400), db="itm_many")
        assert status == 200, out
    assert server.query("SELECT count() FROM itm_many.itm_data WHERE"
                        " ts >= %d AND ts < %d" % (h, h + 90)) == [["0"]]
    assert top(itm_bin, topo.mns, url, *edge)[0] == want
    assert top(itm_bin, topo.mns, url, *cut)[0] == sums(rows, h, h + 3600)
