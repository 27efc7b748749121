# SPDX-License-Identifier: MIT
"""The ClickHouse store (--db clickhouse://...): Debian's clickhouse-server
(18.16) started by the test inside the monitor's namespace, listening on
that namespace's loopback.  One monitor under steady UDP traffic both
ways is killed with SIGKILL at random instants of its drain cycle and
started again, several times; then the `traffic` view's sums per address
equal what the senders sent, exactly (nothing lost, nothing twice), the
daemon's own restored counters equal them too, `query top` prints them,
and a body cut short at a row boundary (what a client dying mid-upload
leaves) changes no sum.  The monitor writes over HTTPS (a certificate
from no known CA is refused); the password comes from a file and is in
no argv.  Then answers to INSERTs lost on the way back (stored, the monitor
never hears so) and INSERTs lost on the way there, through a relay:
sums exact again (they were not before the monitor learned to ask)."""

import json
import random
import subprocess
import threading
import time

import pytest

import ch_server as chs
import itm_e2e as e2e
from test_store import steady_sender, truth_from

PORT = 5009


@pytest.fixture
def server(topo):
    s = chs.started(topo, 18123)
    yield s
    s.teardown()


def _stored(server, table="traffic", host="h1"):
    out = {}
    for ip, tb, tp, rb, rp in server.query(
            "SELECT remote_ip, sum(tx_bytes), sum(tx_packets),"
            " sum(rx_bytes), sum(rx_packets) FROM itm.%s"
            " WHERE host = '%s'%s GROUP BY remote_ip" % (
                table, host, "" if table == "traffic" else " AND kind = 3")):
        out[ip] = {"tx_bytes": int(tb), "tx_packets": int(tp),
                   "rx_bytes": int(rb), "rx_packets": int(rp)}
    return out


# Phase 2 by hand, as the monitor runs it (store_ch.c: promote()), from
# the stage {s}: the host's own (itm_stage_HOST, a Memory table) or the
# one earlier versions staged in (itm_stage).
PROMOTE = ("INSERT INTO itm.itm_data ({c}) SELECT {c} FROM itm.{s}"
           " WHERE host = '{h}' AND attempt = {a} AND (SELECT"
           " throwIf(count() = 0) FROM itm.{s} WHERE host = '{h}'"
           " AND attempt = {a} AND kind = 5 AND ok = 'itm') = 0"
           " ORDER BY host, ts, kind, remote_ip, pid")


def _data_columns(server):
    return ", ".join(r[0] for r in server.query("DESCRIBE TABLE itm.itm_data"))


def _cut_replay(server):
    """Stage the rows of the largest promoted attempt again (as they are
    in itm_data: the stage is emptied once a drain is stored), under a
    new attempt number, in the host's stage, cut short before its state
    and commit rows (the server takes such a body as complete), then run
    phase 2 for it: it must promote nothing, and say so."""
    (attempt, n), = server.query(
        "SELECT attempt, count() AS n FROM itm.itm_data WHERE kind = 3"
        " GROUP BY attempt ORDER BY n DESC LIMIT 1")
    cols = [r[0] for r in server.query("DESCRIBE TABLE itm.itm_data")]
    assert [r[0] for r in server.query(
        "DESCRIBE TABLE itm.itm_stage_h1")] == cols + ["ok"]
    at, kind = cols.index("attempt"), cols.index("kind")
    status, body = server.post(
        "SELECT %s, 'itm' FROM itm.itm_data WHERE attempt = %s ORDER BY"
        " kind FORMAT TabSeparated" % (", ".join(cols), attempt))
    assert status == 200, body
    lines = [line.split("\t") for line in body.decode().splitlines()]
    new = int(attempt) + 1000000
    kept = [r[:at] + [str(new)] + r[at + 1:] for r in lines if r[kind] == "3"]
    assert len(kept) == int(n) and len(lines) > len(kept)
    kept = ["\t".join(r) for r in kept]
    status, out = server.post(
        "INSERT INTO itm.itm_stage_h1 (%s, ok) FORMAT TabSeparated"
        % ", ".join(cols), ("\n".join(kept) + "\n").encode())
    assert status == 200, out
    status, out = server.post(PROMOTE.format(
        c=_data_columns(server), s="itm_stage_h1", h="h1", a=new))
    assert status != 200 and b"throwIf" in out, (status, out)
    (staged,), = server.query("SELECT count() FROM itm.itm_stage_h1"
                              " WHERE attempt = %d" % new)
    (got,), = server.query("SELECT count() FROM itm.itm_data"
                           " WHERE attempt = %d" % new)
    assert int(staged) == int(n) and got == "0"  # staged, not promoted


DAY = 86400
# Retention: rows this many days old, with the flags below; what survives
# in which table.
KEEP = ("--db-keep-buckets", "2d", "--db-keep-hours", "5d",
        "--db-keep-days", "40d")
AGES = {3: "192.0.2.3", 10: "192.0.2.10", 100: "192.0.2.100"}
KEPT = {"itm_data": (), "itm_minute": (), "itm_hour": (3,),
        "itm_day": (3, 10)}


def _old_rows(server, now):
    """Host `old`: one address row per age in AGES, staged and promoted
    as the monitor does (attempt 1), and one stage row staged three days
    ago (maintain drops stage partitions older than yesterday)."""
    cols = ("host, ts, seconds, iface, kind, ip, remote_ip, tx_bytes,"
            " rx_bytes, tx_packets, rx_packets, attempt, ok")
    lines, want = [], {}
    for age, ip in AGES.items():
        ts = now - age * DAY
        a = ip.split(".")
        hexip = "00000000000000000000ffff" + "".join(
            "%02x" % int(x) for x in a)
        v = (1000 * age + 7, 2000 * age + 3, age + 1, 2 * age + 1)
        lines.append("old\t%d\t60\teth9\t3\t%s\t%s\t%d\t%d\t%d\t%d\t1\titm"
                     % ((ts, hexip, ip) + v))
        want[age] = (ip, v)
    lines.append("old\t%d\t60\t\t5\t\t\t0\t0\t0\t0\t1\titm" % now)
    status, out = server.post(
        "INSERT INTO itm.itm_stage (%s) FORMAT TabSeparated" % cols,
        ("\n".join(lines) + "\n").encode())
    assert status == 200, out
    status, out = server.post(PROMOTE.format(c=_data_columns(server),
                                             s="itm_stage", h="old", a=1))
    assert status == 200, out
    status, out = server.post(
        "INSERT INTO itm.itm_stage (host, ts, kind, attempt, ok, staged)"
        " VALUES ('old', %d, 5, 2, 'itm', %d)" % (now, now // DAY - 3))
    assert status == 200, out
    for table in KEPT:
        (n,), = server.query("SELECT count() FROM itm.%s WHERE host = 'old'"
                             " AND kind = 3" % table)
        assert int(n) == 3, (table, n)  # all there before maintain
    return want


def _check_retention(server, want):
    for table, ages in KEPT.items():
        got = {ip: (int(tb), int(rb), int(tp), int(rp)) for ip, tb, rb, tp, rp
               in server.query(
                   "SELECT remote_ip, sum(tx_bytes), sum(rx_bytes),"
                   " sum(tx_packets), sum(rx_packets) FROM itm.%s"
                   " WHERE host = 'old' AND kind = 3 GROUP BY remote_ip" % table)}
        assert got == dict(want[a] for a in ages), table
        # Whole partitions dropped, not rows deleted.
        parts = {int(p) for p, in server.query(
            "SELECT DISTINCT partition FROM system.parts WHERE database ="
            " 'itm' AND table = '%s' AND active" % table)}
        for age in set(AGES) - set(ages):
            ts = int(time.time()) - age * DAY
            p = (int(time.strftime("%Y%m", time.gmtime(ts)))
                 if table == "itm_day" else ts // DAY)
            assert p not in parts, (table, age, parts)
    assert server.query("SELECT count() FROM itm.itm_stage WHERE host ="
                        " 'old' AND attempt = 2") == [["0"]]


def _top(t, itm_bin, url, *args):
    p = subprocess.run(
        ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query", "top",
         "--db", url, "-n", "0", "--json"] + list(args),
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return {r["remote_ip"]: (r["tx_bytes"], r["rx_bytes"])
            for r in json.loads(p.stdout)}


def both_ways(t, duration, tx_args, rx_args):
    """steady_sender from the monitor to every peer (tx_args: its rate
    and size arguments) and back (rx_args), forked; (tx, rx)."""
    tx = e2e.Forked(t.mns, steady_sender,
                    [(t.mon_addr_for(p), p) for p in t.peers], PORT,
                    tx_args[0], duration, tx_args[1])
    rx = e2e.Forked(t.pns, steady_sender,
                    [(p, t.mon_addr_for(p)) for p in t.peers], PORT,
                    rx_args[0], duration, rx_args[1])
    return tx, rx


def wait_inserts(proxy, n, timeout, step):
    """Until the relay saw n INSERTs, at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while proxy.inserts < n and time.monotonic() < deadline:
        time.sleep(step)


def test_kill9_loses_and_duplicates_nothing(topo, server, start_monitor,
                                            itm_bin):
    t = topo
    rounds = 6
    seed = int(time.time())
    rnd = random.Random(seed)
    args = ("--db", server.tls_url(), "--db-host", "h1", "--db-interval",
            "1", "-s", "0.05") + KEEP
    sinks = [e2e.Sinks(t.pns, t.peers, PORT),
             e2e.Sinks(t.mns, t.mon_addrs, PORT)]
    try:
        duration = 1.6 * rounds + 1.5
        # The schema first, then the old rows (before any maintain runs).
        assert start_monitor(t, *args).stop() == 0
        old = _old_rows(server, int(time.time()))
        mon = start_monitor(t, *args)
        tx, rx = both_ways(t, duration, (200, 3000), (300, 2000))
        for _ in range(rounds):
            time.sleep(rnd.uniform(0.2, 1.0))
            mon.kill()  # SIGKILL, anywhere in a drain or an upload
            time.sleep(rnd.uniform(0.05, 0.5))  # the kernel counts alone
            mon = start_monitor(t, *args)
        truth = truth_from(tx.wait(duration + 60), rx.wait(duration + 60))
        t.wait_quiet(quiet_for=0.5)
        scraped = {k: v for k, v in mon.scrape().per_ip().items()
                   if any(v.values())}
        argv = open("/proc/%d/cmdline" % mon.proc.pid, "rb").read()
        assert chs.PASSWORD.encode() not in argv
        assert mon.stop() == 0, mon.stderr()
    finally:
        for s in sinks:
            s.close()
    assert sum(v["tx_packets"] for v in truth.values()) > 1000
    # Restored totals continued through every restart.
    assert scraped == truth, "seed %d" % seed
    assert _stored(server) == truth, "seed %d" % seed
    (attempts,), = server.query("SELECT uniqExact(attempt) FROM itm.itm_data"
                                " WHERE host = 'h1' AND kind = 5")
    assert int(attempts) >= rounds
    # The rollups, summed by the engine from the promoted rows: exact too.
    for table in ("itm_minute", "itm_hour", "itm_day"):
        assert _stored(server, table) == truth, (table, seed)

    _cut_replay(server)
    assert _stored(server) == truth, "seed %d" % seed
    for table in ("itm_minute", "itm_hour", "itm_day"):
        assert _stored(server, table) == truth, (table, seed)

    # Retention dropped the old partitions, from the right tables only.
    _check_retention(server, old)
    # query top from raw rows (the last hour: no whole hour in it), from
    # whole hours (t_hour) and from a whole day (t_day): the same sums.
    want = {ip: (v["tx_bytes"], v["rx_bytes"]) for ip, v in truth.items()}
    (lo, hi), = server.query("SELECT min(ts), max(ts) FROM itm.traffic"
                             " WHERE host = 'h1'")
    lo, hi = int(lo), int(hi)
    hours = ("--since", "@%d" % (lo - lo % 3600),
             "--until", "@%d" % (hi - hi % 3600 + 3600))
    days = ("--since", "@%d" % (lo - lo % DAY),
            "--until", "@%d" % (hi - hi % DAY + DAY))
    for window in (("--since", "1h"), hours, days):
        assert _top(t, itm_bin, server.url(), "--host", "h1",
                    *window) == want, window
    # Host `old` exists in the rollups only: its hour (t_hour) and its
    # day (t_day), nothing of the expired one.
    ts3 = int(time.time()) - 3 * DAY
    assert _top(t, itm_bin, server.url(), "--host", "old", "--since",
                "@%d" % (ts3 - ts3 % 3600), "--until",
                "@%d" % (ts3 - ts3 % 3600 + 3600)) == {
        old[3][0]: old[3][1][:2]}
    assert _top(t, itm_bin, server.url(), "--host", "old", "--since",
                "200d") == {old[a][0]: old[a][1][:2] for a in (3, 10)}

    # query top reads the same sums, ranked, through the reader: every
    # host, and this one (--host).
    for host in ([], ["--host", "h1"]):
        p = subprocess.run(
            ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query",
             "top", "--db", server.url(), "--since", "1h", "-n", "0",
             "--json"] + host,
            capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        top = json.loads(p.stdout)
        assert {r["remote_ip"]: (r["tx_bytes"], r["rx_bytes"])
                for r in top} == {ip: (v["tx_bytes"], v["rx_bytes"])
                                  for ip, v in truth.items()}
    # query top --host: unknown host refused with one line, exit 2.
    p = subprocess.run(
        ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query", "top",
         "--db", server.url(), "--host", "nosuch"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "nosuch" in p.stderr, p.stderr
    # query: a statement of the user's, through the read-only session.
    p = subprocess.run(
        ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query",
         "--db", server.url(), "--csv",
         "SELECT host, sum(tx_packets) AS p FROM traffic GROUP BY host"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1:] == ["h1,%d" % sum(
        v["tx_packets"] for v in truth.values())]
    # TLS: the monitor wrote over HTTPS; a certificate no CA vouches for
    # is refused.
    p = subprocess.run(
        ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query",
         "--db", server.tls_url(ca=False), "SELECT 1"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "certificate" in p.stderr, p.stderr
    assert chs.PASSWORD not in p.stderr
    p = subprocess.run(
        ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query",
         "--db", server.tls_url(), "DROP TABLE itm_data"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert server.query("EXISTS TABLE itm.itm_data") == [["1"]]
    print("clickhouse-server start %.2f s, %d attempts, seed %d, "
          "tx %d B/%d pkts, rx %d B/%d pkts" %
          (server.start_seconds, int(attempts), seed,
           *(sum(v[k] for v in truth.values()) for k in (
               "tx_bytes", "tx_packets", "rx_bytes", "rx_packets"))))


def test_lost_answers_store_nothing_twice(topo, server, start_monitor):
    """The answer to an INSERT is lost (stored, the monitor does not know)
    or the INSERT itself is (not stored): the monitor retries the same
    drained maps and asks the server which happened first, so the sums
    stay exact either way.  The server is also killed (SIGKILL) in the
    middle and started again a second later.  First, an INSERT of an
    earlier run of this host still running on the server (2 s): the
    monitor waits for it before it reads its state."""
    t = topo
    server.query("CREATE DATABASE IF NOT EXISTS itm")
    server.query("CREATE TABLE itm.slow (x UInt8) ENGINE = Memory")
    slow = threading.Thread(target=server.post, args=(
        "INSERT INTO itm.slow SELECT sleep(2)",), kwargs={
        "query_id": "itm-h2-0"})
    slow.start()
    time.sleep(0.3)  # running on the server now
    t0 = time.monotonic()
    proxy = chs.LossyProxy(server, 18125, lose_answer=(3, 4, 9, 14),
                           lose_request=(5, 11, 12))
    sinks = [e2e.Sinks(t.pns, t.peers, PORT),
             e2e.Sinks(t.mns, t.mon_addrs, PORT)]
    try:
        duration = 6.0
        mon = start_monitor(t, "--db", proxy.url(), "--db-host", "h2",
                            "--db-interval", "1", "-s", "0.2")
        waited = time.monotonic() - t0
        slow.join()
        assert waited >= 1.5, waited
        tx, rx = both_ways(t, duration, (120, 1500), (250, 1000))
        wait_inserts(proxy, 15, 15, 0.1)  # the planned losses first
        server.kill()
        time.sleep(1.0)
        server.start()
        truth = truth_from(tx.wait(duration + 60), rx.wait(duration + 60))
        t.wait_quiet(quiet_for=0.5)
        # drains go on after the traffic stopped
        wait_inserts(proxy, 20, 20, 0.2)
        assert mon.stop() == 0, mon.stderr()
    finally:
        for s in sinks:
            s.close()
        proxy.close()
    assert len(proxy.lost) == 7, proxy.lost
    # Both phases lost answers and requests: a lost phase-2 answer is
    # looked up, a lost phase-2 request is run again.
    assert {(what, phase) for what, _, phase in proxy.lost} == {
        ("answer", 1), ("answer", 2), ("request", 1), ("request", 2)}, \
        proxy.lost
    print("lost %s; tx %d B, rx %d B" % (
        proxy.lost, sum(v["tx_bytes"] for v in truth.values()),
        sum(v["rx_bytes"] for v in truth.values())))
    got = {}
    for ip, tb, tp, rb, rp in server.query(
            "SELECT remote_ip, sum(tx_bytes), sum(tx_packets),"
            " sum(rx_bytes), sum(rx_packets) FROM itm.traffic"
            " WHERE host = 'h2' GROUP BY remote_ip"):
        got[ip] = {"tx_bytes": int(tb), "tx_packets": int(tp),
                   "rx_bytes": int(rb), "rx_packets": int(rp)}
    assert got == truth
    err = mon.stderr()
    assert "writing database" in err and "writable again" in err, err

    # A drain in itm_data whose sums one rollup lacks (what a server
    # killed between the parts of a phase 2 leaves): promoted by hand
    # while the hour view is detached.  The next start repairs it.
    (last,), = server.query("SELECT max(attempt) FROM itm.itm_data"
                            " WHERE host = 'h2'")
    a = int(last) + 1
    extra = (4242, 5151, 3, 4)
    rows = ["h2\t%d\t1\teth9\t3\t00000000000000000000ffffc000024d"
            "\t192.0.2.77\t%d\t%d\t%d\t%d\t%d\titm" % (
                (int(time.time()),) + extra + (a,)),
            "h2\t%d\t1\t\t5\t\t\t0\t0\t0\t0\t%d\titm" % (
                int(time.time()), a)]
    status, out = server.post(
        "INSERT INTO itm.itm_stage_h2 (host, ts, seconds, iface, kind, ip,"
        " remote_ip, tx_bytes, rx_bytes, tx_packets, rx_packets, attempt,"
        " ok) FORMAT TabSeparated", ("\n".join(rows) + "\n").encode())
    assert status == 200, out
    assert server.post("DETACH TABLE itm.itm_hour_mv")[0] == 200
    status, out = server.post(PROMOTE.format(c=_data_columns(server),
                                             s="itm_stage_h2", h="h2", a=a))
    assert server.post("ATTACH TABLE itm.itm_hour_mv")[0] == 200
    assert status == 200, out
    truth["192.0.2.77"] = dict(zip(("tx_bytes", "rx_bytes", "tx_packets",
                                    "rx_packets"), extra))
    assert _stored(server, "itm_hour", "h2") != truth
    mon = start_monitor(t, "--db", server.url(), "--db-host", "h2",
                        "--db-interval", "1", "-s", "0.2")
    assert mon.stop() == 0, mon.stderr()
    assert _stored(server, "traffic", "h2") == truth
    for table in ("itm_minute", "itm_hour", "itm_day"):
        assert _stored(server, table, "h2") == truth, table


def test_server_restart_between_the_phases(topo, server, start_monitor):
    """The stage is a Memory table: a server restarted after phase 1 was
    answered and before phase 2 has lost the staged rows.  Phase 2 must
    then fail (not copy nothing and answer 200) and the monitor store
    the drain again: exact sums.  The relay restarts the server right
    before two phase 2 requests, while traffic flows both ways."""
    t = topo
    proxy = chs.LossyProxy(server, 18126, restart_before=(4, 10))
    sinks = [e2e.Sinks(t.pns, t.peers, PORT),
             e2e.Sinks(t.mns, t.mon_addrs, PORT)]
    try:
        duration = 5.0
        mon = start_monitor(t, "--db", proxy.url(), "--db-host", "h3",
                            "--db-interval", "1", "-s", "0.2")
        tx, rx = both_ways(t, duration, (120, 1500), (250, 1000))
        truth = truth_from(tx.wait(duration + 60), rx.wait(duration + 60))
        t.wait_quiet(quiet_for=0.5)
        # drains go on after the traffic stopped
        wait_inserts(proxy, 16, 30, 0.2)
        assert mon.stop() == 0, mon.stderr()
    finally:
        for s in sinks:
            s.close()
        proxy.close()
    # Both restarts came before a phase 2, which the server refused.
    assert proxy.restarted == [(4, 2), (10, 2)], proxy.restarted
    refused = [(n, st) for n, ph, st in proxy.answers if n in (4, 10)]
    assert len(refused) == 2 and all(st != 200 for _, st in refused), \
        proxy.answers
    assert sum(v["tx_bytes"] for v in truth.values()) > 0
    assert _stored(server, "traffic", "h3") == truth
    for table in ("itm_minute", "itm_hour", "itm_day"):
        assert _stored(server, table, "h3") == truth, table
    # Emptied after every stored drain.
    assert server.query("SELECT count() FROM itm.itm_stage_h3") == [["0"]]
    err = mon.stderr()
    assert "staged rows of attempt" in err and "writable again" in err, err


# ---- query top ranked on the server ---------------------------------------

HOUR = 3600
# Label sets (country, province, city, isp, asn...: the label columns in
# order; "Unknown" past the tuple), UTF-8 names whose byte order is not
# their order in any locale.
LABELS = [("中国", "江苏省", "南京市", "中国电信", "AS4134"),
          ("中国", "广东省", "深圳市", "中国移动", "AS9808"),
          ("美国", "加利福尼亚州", "芒廷维尤", "Google", "AS15169"),
          ("日本", "东京都", "东京", "NTT", "AS2914"),
          ()]
PROCS = [(0, "-"), (100, "nginx"), (200, "nginx"), (300, "curl"),
         (400, "sshd")]


def _window_rows(now, labels):
    """(since, until, rows): rows of hosts h1 and h2 as the store writes
    them (raw, promoted), spread over every part of a window that cuts two
    days, hours and minutes, and outside it.  Each address's sums in the
    window are chosen so that totals, sent and received bytes tie between
    addresses (ties broken by name); address 198.18.0.9 changes its
    labels (two label sets, one remote_ip)."""
    rnd = random.Random(25)
    d0 = now // DAY * DAY - 2 * DAY
    since = d0 - 2 * HOUR - 17 * 60 - 23
    until = d0 + DAY + 3 * HOUR + 41 * 60 + 7
    hs, hu = since - since % HOUR + HOUR, until - until % HOUR
    m0, m1 = since - since % 60 + 60, until - until % 60
    inside = [since, since + 30, m0, m0 + 5, m0 + 35, hs + HOUR + 10,
              d0 + 5 * HOUR + 7, d0 + DAY + HOUR + 1, hu, hu + 603,
              hu + 633, m1 + 2, until - 1]
    outside = [since - 1, since - HOUR, until, until + 59, d0 - 3 * DAY + 5]
    # (tx_bytes, rx_bytes) per address in the window: ties in total,
    # in tx and in rx between differently named addresses
    want = [(5000, 3000), (3000, 5000), (4000, 4000), (5000, 2500),
            (7000, 2500), (1200, 700), (700, 1200), (900, 1000),
            (900, 1000), (300, 100), (100, 300), (250, 150)]
    addrs = ["198.18.0.10", "198.18.0.9", "2001:db8::a", "198.18.0.100",
             "2001:db8::1:0", "198.18.0.2", "198.18.1.2", "198.18.0.20",
             "2001:db8::2", "198.18.0.3", "198.18.0.30", "198.18.0.4"]
    places = [("h1", "eth0"), ("h1", "eth1"), ("h2", "eth0"),
              ("h2", "wlan0")]
    rows = []
    for i, (ip, (tx, rx)) in enumerate(zip(addrs, want)):
        k = rnd.randint(3, 6)
        # k in-window rows summing to (tx, rx), packets too
        cut_tx = sorted(rnd.sample(range(1, tx), k - 1))
        cut_rx = sorted(rnd.sample(range(1, rx), k - 1))
        parts_tx = [b - a for a, b in zip([0] + cut_tx, cut_tx + [tx])]
        parts_rx = [b - a for a, b in zip([0] + cut_rx, cut_rx + [rx])]
        for j in range(k + 2):  # and two rows outside it
            ts = rnd.choice(inside if j < k else outside)
            tb, rb = (parts_tx[j], parts_rx[j]) if j < k else (
                rnd.randint(1, 9999), rnd.randint(1, 9999))
            host, iface = rnd.choice(places)
            pid, proc = rnd.choice(PROCS)
            lab = LABELS[i % 5 if ip != "198.18.0.9" else j % 2]
            rows.append({"host": host, "ts": ts, "iface": iface,
                         "remote_ip": ip, "pid": pid, "process": proc,
                         **{n: lab[c] if c < len(lab) else "Unknown"
                            for c, n in enumerate(labels)},
                         "tx_bytes": tb, "rx_bytes": rb,
                         "tx_packets": 1 + tb % 7, "rx_packets": 1 + rb % 5})
    # two drains of one address in one whole minute (as at -s 30), and
    # one in a cut minute
    for ts, tb, rb in ((hu + 603, 200, 250), (hu + 633, 250, 200),
                       (m1 + 2, 50, 50)):
        rows.append(dict(rows[0], host="h1", iface="eth0", ts=ts,
                         remote_ip="198.18.0.50", tx_bytes=tb, rx_bytes=rb,
                         tx_packets=3, rx_packets=4))
    return since, until, rows


def _rollup_rows(since, until, labels):
    """Hosts whose rows retention left in the rollups only: h3 without
    minutes and raw rows (its last cut hour's hourly row counts, its cut
    day's daily rows do not: it has hours that day), h4 with days only
    (its cut day's row counts).  (table, counted in the window, row)."""
    d0 = since - since % DAY + DAY
    d1, hu = until - until % DAY, until - until % HOUR
    out = []
    for n, (host, table, ts, counts) in enumerate((
            ("h3", "itm_hour", since - since % HOUR, False),
            ("h3", "itm_hour", since - since % HOUR + HOUR, True),
            ("h3", "itm_hour", d1 + HOUR, True),
            ("h3", "itm_hour", hu, True),
            ("h3", "itm_hour", hu + HOUR, False),
            ("h3", "itm_day", d0, True),
            ("h3", "itm_day", d1, False),
            ("h4", "itm_day", d0 - DAY, False),
            ("h4", "itm_day", d0, True),
            ("h4", "itm_day", d1, True))):
        lab = LABELS[n % 5]
        out.append((table, counts, {
            "host": host, "ts": ts, "iface": "eth%d" % (n % 2),
            "remote_ip": "198.18.2.%d" % (n % 3), "pid": 0,
            "process": "-",
            **{x: lab[c] if c < len(lab) else "Unknown"
               for c, x in enumerate(labels)},
            "tx_bytes": 1000 + 100 * n, "rx_bytes": 2000 - 100 * n,
            "tx_packets": n + 1, "rx_packets": n + 2}))
    # every hourly row is in its day's row too (none in the whole day d0)
    out += [("itm_day", False, dict(r, ts=r["ts"] - r["ts"] % DAY))
            for table, _, r in out if table == "itm_hour"]
    return out


def _ip_hex(ip):
    import ipaddress
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        a = ipaddress.IPv6Address("::ffff:" + ip)
    return a.packed.hex()


def _load_top_rows(server, rows, rollup, labels):
    """h1 and h2 staged and promoted as the monitor does (the views fill
    the rollups); h3 and h4 straight into the rollups."""
    cols = (["host", "ts", "seconds", "iface", "kind", "ip", "remote_ip",
             "pid", "process"] + labels +
            ["tx_bytes", "rx_bytes", "tx_packets", "rx_packets", "attempt",
             "ok"])
    for a, host in enumerate(("h1", "h2"), start=1):
        lines = ["\t".join(str(x) for x in [
            r["host"], r["ts"], 1, r["iface"], 3, _ip_hex(r["remote_ip"]),
            r["remote_ip"], r["pid"], r["process"]] + [
                r[n] for n in labels] + [
            r["tx_bytes"], r["rx_bytes"], r["tx_packets"], r["rx_packets"],
            a, "itm"]) for r in rows if r["host"] == host]
        lines.append("\t".join([host, str(rows[0]["ts"]), "1", "", "5", "",
                                "", "0", ""] + [""] * len(labels) +
                               ["0", "0", "0", "0", str(a), "itm"]))
        status, out = server.post(
            "INSERT INTO itm.itm_stage (%s) FORMAT TabSeparated"
            % ", ".join(cols), ("\n".join(lines) + "\n").encode())
        assert status == 200, out
        status, out = server.post(PROMOTE.format(c=_data_columns(server),
                                                 s="itm_stage", h=host, a=a))
        assert status == 200, out
    rcols = (["host", "ts", "iface", "kind", "ip", "remote_ip", "pid",
              "process"] + labels +
             ["tx_bytes", "rx_bytes", "tx_packets", "rx_packets"])
    for table, _, r in rollup:
        line = "\t".join(str(x) for x in [
            r["host"], r["ts"], r["iface"], 3, _ip_hex(r["remote_ip"]),
            r["remote_ip"], r["pid"], r["process"]] + [
                r[n] for n in labels] + [
            r["tx_bytes"], r["rx_bytes"], r["tx_packets"], r["rx_packets"]])
        status, out = server.post("INSERT INTO itm.%s (%s) FORMAT"
                                  " TabSeparated" % (table, ", ".join(rcols)),
                                  (line + "\n").encode())
        assert status == 200, out


VALS = ("tx_bytes", "rx_bytes", "tx_packets", "rx_packets")


def _ranked(rows, by, rank, n):
    """The ground truth: sums per name, ranked as query top ranks (bytes
    descending, then the name's UTF-8 bytes ascending), the first n."""
    sums = {}
    for r in rows:
        s = sums.setdefault(r[by], [0, 0, 0, 0])
        for i, v in enumerate(VALS):
            s[i] += r[v]
    metric = {"both": lambda s: s[0] + s[1], "tx": lambda s: s[0],
              "rx": lambda s: s[1]}[rank]
    out = sorted(sums.items(), key=lambda kv: (-metric(kv[1]),
                                               kv[0].encode()))
    return out[:n] if n else out


def _tie_at(ranked, rank):
    """An n whose cut falls between two rows of equal rank (0: none)."""
    m = {"both": lambda s: s[0] + s[1], "tx": lambda s: s[0],
         "rx": lambda s: s[1]}[rank]
    for i in range(1, len(ranked)):
        if m(ranked[i - 1][1]) == m(ranked[i][1]):
            return i
    return 0


def _cli_top(t, itm_bin, url, *args):
    p = subprocess.run(
        ["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "query", "top",
         "--db", url] + list(args), capture_output=True, text=True,
        timeout=60)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def test_top_ranked_on_the_server(topo, server, start_monitor, itm_bin):
    """`query top` ranks on the server, by name: every --by key, every
    rank, every format, -n 0 and a cut between tied rows, all hosts and
    one, equal to the sums and order computed here from the rows the test
    wrote (raw rows in every part of the window: whole days, whole hours,
    whole minutes and cut minutes of the cut hours; rollup rows of hosts
    whose raw rows are gone)."""
    t = topo
    assert start_monitor(t, "--db", server.url(), "--db-host",
                         "h0").stop() == 0  # the schema, as the store makes it
    fixed = {"host", "ts", "seconds", "iface", "kind", "ip", "remote_ip",
             "pid", "process", "attempt", "instance", "seq", "ctr_packets",
             "ctr_bytes"} | set(VALS)
    labels = [r[0] for r in server.query("DESCRIBE TABLE itm.itm_data")
              if r[0] not in fixed]
    assert labels
    since, until, rows = _window_rows(int(time.time()), labels)
    rollup = _rollup_rows(since, until, labels)
    _load_top_rows(server, rows, rollup, labels)
    truth = [r for r in rows if since <= r["ts"] < until] + [
        r for _, counts, r in rollup if counts]
    # What the store holds agrees with what the test wrote (raw rows).
    got, = server.query(
        "SELECT sum(tx_bytes), sum(rx_bytes) FROM itm.traffic WHERE ts >= %d"
        " AND ts < %d AND host IN ('h1', 'h2')" % (since, until))
    assert [int(x) for x in got] == [
        sum(r[v] for r in truth if r["host"] in ("h1", "h2"))
        for v in VALS[:2]]
    # The minute rollup sums two raw rows of 198.18.0.50 into one.
    assert server.query(
        "SELECT count(), sum(tx_bytes) FROM itm.itm_minute WHERE kind = 3"
        " AND remote_ip = '198.18.0.50' AND ts >= %d" % (until - until % HOUR)
    ) == [["2", "500"]]
    window = ["--since", "@%d" % since, "--until", "@%d" % until]
    url = server.url()
    checked, ties = 0, set()
    for by in ["remote_ip", "process", "iface"] + labels:
        for rank in ("both", "tx", "rx"):
            for host in (None, "h1", "h3"):
                sel = [r for r in truth if host in (None, r["host"])]
                full = _ranked(sel, by, rank, 0)
                cut = _tie_at(full, rank)
                if cut:
                    ties.add((by, rank, host))
                for n in sorted({0, 1, cut or 2}):
                    args = window + ["--by", by, "--" + rank, "-n", str(n),
                                     "--json"] + (["--host", host]
                                                  if host else [])
                    got = json.loads(_cli_top(t, itm_bin, url, *args))
                    cols = VALS if rank == "both" else (
                        "%s_bytes" % rank, "%s_packets" % rank)
                    want = [{by: k, **{c: s[VALS.index(c)] for c in cols}}
                            for k, s in _ranked(sel, by, rank, n)]
                    assert got == want, args
                    checked += 1
    # windows on whole days, hours and minutes: no cut part at all
    d0 = since - since % DAY + DAY
    for lo, hi in ((d0, d0 + DAY), (d0 - DAY, d0 + 2 * DAY),
                   (d0 + HOUR, d0 + 3 * HOUR), (d0 + 60, d0 + 180)):
        sel = [r for r in rows if r["host"] == "h1" and lo <= r["ts"] < hi]
        got = json.loads(_cli_top(t, itm_bin, url, "--since", "@%d" % lo,
                                  "--until", "@%d" % hi, "--host", "h1",
                                  "-n", "0", "--json"))
        assert got == [{"remote_ip": k, **dict(zip(VALS, s))}
                       for k, s in _ranked(sel, "remote_ip", "both", 0)]
    # ties broken by name at the cut of -n, for every rank, by address
    assert {("remote_ip", r, None) for r in ("both", "tx", "rx")} <= ties
    # one address, two label sets: one row by address, two by city
    ip9 = [r for r in truth if r["remote_ip"] == "198.18.0.9"]
    assert len({r[labels[2]] for r in ip9}) == 2
    # CSV and the table: the same rows, names and exact counters
    for by, rank, n in (("remote_ip", "both", 0), ("remote_ip", "tx", 4),
                        (labels[0], "rx", 0), ("process", "both", 2)):
        want = _ranked(truth, by, rank, n)
        cols = VALS if rank == "both" else ("%s_bytes" % rank,
                                            "%s_packets" % rank)
        args = window + ["--by", by, "--" + rank, "-n", str(n)]
        csv = _cli_top(t, itm_bin, url, "--csv", *args).splitlines()
        assert csv[0] == ",".join((by,) + cols)
        assert csv[1:] == [",".join([k] + [str(s[VALS.index(c)])
                                           for c in cols]) for k, s in want]
        table = _cli_top(t, itm_bin, url, *args).splitlines()
        assert table[0].startswith("top %d " % n if n else "every ")
        # title, header, rule, the rows, "(N rows)"
        assert table[1].split()[0] == by and table[-1] == "(%d row%s)" % (
            len(want), "" if len(want) == 1 else "s")
        body = [line.split() for line in table[3:-1]]
        assert [(x[0], [int(v) for v in x[-len(cols):]]) for x in body] == [
            (k, [s[VALS.index(c)] for c in cols]) for k, s in want], table
    print("%d rankings checked, %d with a tie at the cut; %d rows in the"
          " window" % (checked, len(ties), len(truth)))


def _probe_rows(now, labels):
    """(since, until, rows): 400 addresses (IPv4, IPv6, IPv4-compatible
    IPv6 text) of hosts h1 and h2 over every part of a window that cuts two
    days, hours and minutes (as _window_rows()), their bytes heavy-tailed
    (a few large, many small) with ties among the large and the small
    ones, so that the cut of -n falls on ties and the hash buckets of the
    probe hold several names each."""
    rnd = random.Random(2525)
    since, until, _ = _window_rows(now, labels)
    d0 = since - since % DAY + DAY
    hs, hu = since - since % HOUR + HOUR, until - until % HOUR
    m0, m1 = since - since % 60 + 60, until - until % 60
    inside = [since, m0, m0 + 35, hs + 10, hs + HOUR + 10,
              d0 + 5 * HOUR + 7, d0 + DAY + HOUR + 1, hu, hu + 603, m1 + 2,
              until - 1]
    outside = [since - 1, since - HOUR, until, until + 59]
    names = []
    for i in range(400):
        kind = i % 3
        names.append("198.18.%d.%d" % (i // 200, i % 200 + 1) if kind == 0
                     else "2001:db8::%x:%x" % (i, i * 7) if kind == 1
                     else "::198.19.%d.%d" % (i // 250, i % 250 + 1))
    rows = []
    for i, ip in enumerate(names):
        # 1 in 8 large (ties in pairs), the rest small (ties in plenty)
        if i % 8 == 0:
            tx, rx = 90000 - (i // 16) * 1500, 30000 + (i // 40) * 700
        else:
            tx, rx = rnd.choice((40, 90, 150, 300)), rnd.choice((60, 80))
        k = rnd.randint(1, 4)
        cut_tx = sorted(rnd.sample(range(1, tx), k - 1))
        cut_rx = sorted(rnd.sample(range(1, rx), k - 1))
        parts_tx = [b - a for a, b in zip([0] + cut_tx, cut_tx + [tx])]
        parts_rx = [b - a for a, b in zip([0] + cut_rx, cut_rx + [rx])]
        for j in range(k + 1):  # and one row outside the window
            ts = rnd.choice(inside if j < k else outside)
            tb, rb = (parts_tx[j], parts_rx[j]) if j < k else (
                rnd.randint(1, 99999), rnd.randint(1, 99999))
            host, iface = rnd.choice([("h1", "eth0"), ("h2", "eth1")])
            pid, proc = rnd.choice(PROCS)
            lab = LABELS[i % 5]
            rows.append({"host": host, "ts": ts, "iface": iface,
                         "remote_ip": ip, "pid": pid, "process": proc,
                         **{n: lab[c] if c < len(lab) else "Unknown"
                            for c, n in enumerate(labels)},
                         "tx_bytes": tb, "rx_bytes": rb,
                         "tx_packets": 1 + tb % 7, "rx_packets": 1 + rb % 5})
    return since, until, rows


def test_top_probe_proven_or_exact(topo, server, start_monitor, itm_bin):
    """`query top --by remote_ip -n N` on one server ranks through the
    probe (the buckets of a hash of the address with the most bytes, then
    the names in them, proven the first N or else the exact statement):
    with the real 65 536 buckets and with few buckets and small margins
    (ITM_TEST_CH_TOP), so that buckets hold many names, the proof holds
    over a full set of buckets, and fails at ties and flat bytes (the
    exact statement then), every ranking equals the ground truth: every
    rank, all hosts, one host and hosts whose cut hour or cut day come
    from their rollup rows only (named in the statement, and more of them
    than it names), cuts on ties."""
    t = topo
    assert start_monitor(t, "--db", server.url(), "--db-host",
                         "h0").stop() == 0
    fixed = {"host", "ts", "seconds", "iface", "kind", "ip", "remote_ip",
             "pid", "process", "attempt", "instance", "seq", "ctr_packets",
             "ctr_bytes"} | set(VALS)
    labels = [r[0] for r in server.query("DESCRIBE TABLE itm.itm_data")
              if r[0] not in fixed]
    since, until, rows = _probe_rows(int(time.time()), labels)
    rollup = _rollup_rows(since, until, labels)
    # 70 more hosts whose last cut hour is in the hourly rows only: more
    # than a statement names (64), so they are asked by subquery again,
    # while h4's cut day is named; their daily rows do not count (they
    # have hourly rows that day)
    hu, d1 = until - until % HOUR, until - until % DAY
    for i in range(70):
        r = dict(rollup[0][2], host="r%02d" % i, ts=hu,
                 remote_ip="198.18.3.%d" % (i % 35 + 1),
                 tx_bytes=20000 + 500 * (i % 35), rx_bytes=7000 + i,
                 tx_packets=i + 1, rx_packets=2)
        rollup += [("itm_hour", True, r),
                   ("itm_day", False, dict(r, ts=d1))]
    _load_top_rows(server, rows, rollup, labels)
    truth = [r for r in rows if since <= r["ts"] < until] + [
        r for _, counts, r in rollup if counts]
    window = ["--since", "@%d" % since, "--until", "@%d" % until]
    url = server.url()
    seen, checked = set(), 0
    for probe in ("65536,256", "64,8", "16,2", "4,0", "1,0"):
        for rank in ("both", "tx", "rx"):
            for host in (None, "h1", "h3", "r07"):
                sel = [r for r in truth if host in (None, r["host"])]
                full = _ranked(sel, "remote_ip", rank, 0)
                cut = _tie_at(full[20:], rank)
                for n in sorted({1, 3, 10, 40, cut + 20 if cut else 25}):
                    args = window + ["--by", "remote_ip", "--" + rank, "-n",
                                     str(n), "--json"] + (
                                         ["--host", host] if host else [])
                    p = subprocess.run(
                        ["nsenter", "--net=/run/netns/%s" % t.mns, "env",
                         "ITM_TEST_CH_TOP=" + probe, itm_bin, "query", "top",
                         "--db", url] + args, capture_output=True,
                        text=True, timeout=60)
                    assert p.returncode == 0, (args, p.stderr)
                    cols = VALS if rank == "both" else (
                        "%s_bytes" % rank, "%s_packets" % rank)
                    want = [{"remote_ip": k,
                             **{c: s[VALS.index(c)] for c in cols}}
                            for k, s in _ranked(sel, "remote_ip", rank, n)]
                    assert json.loads(p.stdout) == want, (probe, args)
                    checked += 1
                    trace = [x for x in p.stderr.splitlines()
                             if x.startswith("itm-test: top probe:")]
                    assert len(trace) == 1, p.stderr
                    w = trace[0].split()
                    # "N names in NB of L buckets, proven|not proven"
                    nb, lim = int(w[6]), int(w[8])
                    seen.add("not proven" if "not proven" in trace[0]
                             else "all buckets" if nb < lim else "proven")
    # each way through the probe was taken, and every answer was exact
    assert seen == {"all buckets", "proven", "not proven"}, seen
    print("%d rankings checked through the probe (%s)" % (checked,
                                                          sorted(seen)))
