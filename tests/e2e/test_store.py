# SPDX-License-Identifier: MIT
"""The --db store end to end: exact reconciliation (generator = sum over
the traffic view = /metrics), counters that continue across restarts,
kill -9 at random moments under steady traffic, --keep-attached with
traffic while stopped, `detach`, `query` on a live database (also as an
unprivileged user), bad files at start, and a real full disk (a small
tmpfs mounted inside the test's own temporary directory), a deleted file
and a database locked by another writer at run time."""

import json
import os
import shutil
import random
import signal
import socket
import sqlite3
import time

import pytest

import itm_e2e as e2e

PORT = 5007


def db_rows(path, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def stored_per_ip(path):
    """{remote_ip: counts} summed over the traffic view."""
    out = {}
    for ip, tb, tp, rb, rp in db_rows(
            path, "SELECT remote_ip, sum(tx_bytes), sum(tx_packets),"
            " sum(rx_bytes), sum(rx_packets) FROM traffic"
            " GROUP BY remote_ip"):
        out[ip] = {"tx_bytes": tb, "tx_packets": tp, "rx_bytes": rb,
                   "rx_packets": rp}
    return out


def stored_overflow(path):
    r = db_rows(path, "SELECT coalesce(sum(tx_bytes), 0),"
                " coalesce(sum(rx_bytes), 0) FROM traffic_other"
                " WHERE kind = 'overflow'")
    return r[0]


def nonzero(table):
    return {k: v for k, v in table.items() if any(v.values())}


def scraped_per_ip(mon):
    m = mon.scrape()
    return nonzero(m.per_ip()), m


def send_both_ways(t, sizes):
    """Known UDP both ways between the monitor and every peer (IPv4 and
    IPv6); returns the ground truth per remote address."""
    truth = {}
    for peer in t.peers:
        mine = t.mon_addr_for(peer)
        b, p = e2e.udp_send(t.mns, mine, peer, PORT, sizes)
        e2e.add_counts(truth, peer, "tx", b, p)
        b, p = e2e.udp_send(t.pns, peer, mine, PORT, sizes[::2])
        e2e.add_counts(truth, peer, "rx", b, p)
    return truth


@pytest.fixture
def sinks(topo):
    s = [e2e.Sinks(topo.pns, topo.peers, PORT),
         e2e.Sinks(topo.mns, topo.mon_addrs, PORT)]
    yield
    for x in s:
        x.close()


@pytest.fixture
def dbdir(tmp_path):
    d = tmp_path / "db"
    d.mkdir()
    return str(d)


def start(start_monitor, t, db, *args, **kw):
    return start_monitor(t, "--db", db, "-s", "0.2", *args, **kw)


@pytest.mark.parametrize("attribution", [True, False],
                         ids=["pid", "no-pid"])
def test_reconciliation(topo, start_monitor, sinks, dbdir, attribution):
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    args = [] if attribution else ["--no-pid"]
    mon = start(start_monitor, t, db, *args)
    truth = send_both_ways(t, [10, 100, 1000, 1400])
    t.wait_quiet()
    scraped, m = scraped_per_ip(mon)
    assert scraped == truth
    assert mon.stop() == 0, mon.stderr()
    stored = stored_per_ip(db)
    assert stored == truth
    # ip_traffic_all_* = traffic + traffic_other(overflow), exactly.
    otx, orx = stored_overflow(db)
    tot = e2e.sum_counts(truth)
    assert m.value("ip_traffic_all_tx_bytes_total") == tot["tx_bytes"] + otx
    assert m.value("ip_traffic_all_rx_bytes_total") == tot["rx_bytes"] + orx
    # Labels as documented; buckets of the default 60 s.
    rows = db_rows(db, "SELECT DISTINCT seconds, iface, country, isp"
                   " FROM traffic")
    assert rows and all(r[0] == 60 and r[1] == t.mif and r[3] == "Unknown"
                        for r in rows), rows
    if not attribution:
        assert db_rows(db, "SELECT DISTINCT pid, process FROM traffic") == [
            (0, "-")]
    # Our own sends are attributed to this test process (python).
    if attribution:
        me = db_rows(db, "SELECT sum(tx_bytes) FROM traffic WHERE pid = ?",
                     (os.getpid(),))[0][0]
        assert me == e2e.sum_counts(truth)["tx_bytes"]


def test_counters_continue_across_restarts(topo, start_monitor, sinks,
                                           dbdir):
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    mon = start(start_monitor, t, db)
    a = send_both_ways(t, [50, 500])
    t.wait_quiet()
    assert mon.stop() == 0, mon.stderr()
    mon = start(start_monitor, t, db)
    # Right after the restart, before any new traffic: the old totals.
    assert scraped_per_ip(mon)[0] == a
    b = send_both_ways(t, [70])
    t.wait_quiet()
    assert scraped_per_ip(mon)[0] == e2e.merge_counts(a, b)
    assert mon.stop() == 0
    assert stored_per_ip(db) == e2e.merge_counts(a, b)


def steady_sender(src_dst, port, size, seconds, pps):
    """Forked child: send from each (src, dst) in turn at about pps until
    `seconds` pass; return exact per-destination (bytes, packets)."""
    socks = []
    for src, dst in src_dst:
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((src, 0))
        socks.append((s, src, dst))
    counts = {}
    payload = b"k" * size
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        for s, src, dst in socks:
            s.sendto(payload, (dst, port))
            c = counts.setdefault((src, dst), [0, 0])
            c[0] += size + e2e.ip_overhead(dst)
            c[1] += 1
        n += 1
        if n % 10 == 0:
            time.sleep(10.0 * len(socks) / pps)
    return counts


def truth_from(tx_counts, rx_counts):
    truth = {}
    for (src, dst), (b, p) in tx_counts.items():
        e2e.add_counts(truth, dst, "tx", b, p)
    for (src, dst), (b, p) in rx_counts.items():
        e2e.add_counts(truth, src, "rx", b, p)
    return truth


def _kill9_rounds(t, start_monitor, dbdir, rounds, extra=()):
    db = os.path.join(dbdir, "traffic.db")
    seed = int(time.time())
    rnd = random.Random(seed)
    duration = 2.2 * rounds + 2
    mon = start_monitor(t, "--db", db, "-s", "0.05", *extra)
    tx = e2e.Forked(t.mns, steady_sender,
                    [(t.mon_addr_for(p), p) for p in t.peers], PORT, 200,
                    duration, 3000)
    rx = e2e.Forked(t.pns, steady_sender,
                    [(p, t.mon_addr_for(p)) for p in t.peers], PORT, 300,
                    duration, 2000)
    for _ in range(rounds):
        time.sleep(rnd.uniform(0.2, 1.2))
        mon.kill()  # SIGKILL, at a random moment of its drain cycle
        time.sleep(rnd.uniform(0.05, 0.6))  # counted by the kernel alone
        mon = start_monitor(t, "--db", db, "-s", "0.05", *extra)
    truth = truth_from(tx.wait(duration + 60), rx.wait(duration + 60))
    t.wait_quiet()
    # Counters continued through every restart: /metrics is the truth.
    assert scraped_per_ip(mon)[0] == truth, "seed %d" % seed
    assert mon.stop() == 0, mon.stderr()
    assert stored_per_ip(db) == truth, "seed %d" % seed
    return mon


def test_kill9_under_traffic_loses_nothing(topo, start_monitor, sinks,
                                           dbdir):
    _kill9_rounds(topo, start_monitor, dbdir, 5)


def test_kill9_clsact_loses_nothing(topo, start_monitor, sinks, dbdir):
    _kill9_rounds(topo, start_monitor, dbdir, 3, ("--clsact",))


def test_keep_attached_restart_loses_nothing(topo, start_monitor, sinks,
                                             dbdir, pin_base):
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    mon = start(start_monitor, t, db, "--keep-attached")
    a = send_both_ways(t, [100, 200])
    assert mon.stop() == 0, mon.stderr()
    # Still counting in the kernel while no daemon runs.
    assert len(t.attached_programs()) == 2
    assert os.path.isdir(os.path.join(pin_base, t.instance()))
    b = send_both_ways(t, [300, 400, 500])
    mon = start(start_monitor, t, db)
    c = send_both_ways(t, [600])
    t.wait_quiet()
    want = e2e.merge_counts(a, b, c)
    assert scraped_per_ip(mon)[0] == want
    assert mon.stop() == 0, mon.stderr()
    assert stored_per_ip(db) == want
    # Without --keep-attached the second stop detached everything.
    assert t.attached_programs() == []
    d = os.path.join(pin_base, t.instance())
    print(mon.stderr())
    assert not os.path.exists(d), os.listdir(d)


def test_keep_attached_then_detach(topo, start_monitor, itm_bin, pin_base):
    t = topo
    mon = start_monitor(t, "--keep-attached")
    assert mon.stop() == 0, mon.stderr()
    assert len(t.attached_programs()) == 2
    p = e2e.sh("nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "detach",
               "-i", t.mif, "--pin-dir", pin_base, check=False)
    assert p.returncode == 0, p.stderr
    assert t.attached_programs() == []
    assert t.tc_filters().strip() == ""
    assert not os.path.exists(os.path.join(pin_base, t.instance()))
    # Nothing left to detach: one line, exit 2.
    p = e2e.sh("nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "detach",
               "-i", t.mif, "--pin-dir", pin_base, check=False)
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1, p.stderr


def test_query_while_daemon_writes(topo, start_monitor, sinks, itm_bin,
                                   tmp_path):
    t = topo
    # A directory an unprivileged user can read: query needs no root.
    d = "/tmp/itm_e2e_query_%d" % os.getpid()
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    db = os.path.join(d, "traffic.db")
    # The build tree may sit where nobody cannot reach it (/root is 0700).
    qbin = os.path.join(d, "ip_traffic_monitor_cli")
    shutil.copy(itm_bin, qbin)
    os.chmod(qbin, 0o755)
    try:
        mon = start(start_monitor, t, db)
        truth = send_both_ways(t, [1000, 1200])
        t.wait_quiet()
        time.sleep(0.5)  # a few drains, committed
        p = e2e.sh("runuser", "-u", "nobody", "--", qbin, "query",
                   "--db", db, "--json",
                   "SELECT remote_ip, sum(tx_bytes) AS tx, sum(rx_bytes)"
                   " AS rx FROM traffic GROUP BY remote_ip")
        got = {r["remote_ip"]: (r["tx"], r["rx"]) for r in
               json.loads(p.stdout)}
        assert got == {ip: (c["tx_bytes"], c["rx_bytes"])
                       for ip, c in truth.items()}
        p = e2e.sh("runuser", "-u", "nobody", "--", qbin, "query",
                   "top", "--db", db, "--since", "1h", "-n", "3", "--csv")
        lines = p.stdout.strip().splitlines()
        assert lines[0] == "remote_ip,tx_bytes,rx_bytes,tx_packets,rx_packets"
        assert len(lines) == 4
        best = max(truth.items(),
                   key=lambda kv: kv[1]["tx_bytes"] + kv[1]["rx_bytes"])
        assert lines[1].split(",")[0] == best[0]
        # A write is refused even for root, and the daemon keeps writing.
        p = e2e.sh(itm_bin, "query", "--db", db, "DELETE FROM t_bucket",
                   check=False)
        assert p.returncode == 2 and len(p.stderr.splitlines()) == 1
        assert mon.stop() == 0, mon.stderr()
        assert stored_per_ip(db) == truth
    finally:
        e2e.sh("rm", "-rf", d)


def expect_refused(t, start_monitor, db, pin_base, needle):
    mon = start_monitor(t, "--db", db, wait=False)
    rc = mon.wait(timeout=20)
    err = mon.stderr()
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    assert t.attached_programs() == []
    assert not os.path.exists(os.path.join(pin_base, t.instance()))


def test_bad_db_files_refused(topo, start_monitor, dbdir, pin_base):
    t = topo
    text = os.path.join(dbdir, "text.db")
    with open(text, "w") as f:
        f.write("just some words, not a database\n" * 10)
    expect_refused(t, start_monitor, text, pin_base, "not an SQLite")

    corrupt = os.path.join(dbdir, "corrupt.db")
    con = sqlite3.connect(corrupt)
    con.execute("CREATE TABLE x(a)")
    con.execute("PRAGMA user_version = 1")
    con.executemany("INSERT INTO x VALUES(?)", [("y" * 500,)] * 200)
    con.commit()
    con.close()
    with open(corrupt, "r+b") as f:
        f.seek(4096)
        f.write(b"\xa5" * 8192)
    expect_refused(t, start_monitor, corrupt, pin_base, "corrupt")

    locked = os.path.join(dbdir, "locked.db")
    mon = start(start_monitor, t, locked)
    assert mon.stop() == 0
    con = sqlite3.connect(locked, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    try:
        expect_refused(t, start_monitor, locked, pin_base, "locked")
    finally:
        con.execute("ROLLBACK")
        con.close()

    # A read-only filesystem (a tmpfs inside our own temp dir).
    ro = os.path.join(dbdir, "ro")
    os.mkdir(ro)
    e2e.sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", ro)
    try:
        e2e.sh("mount", "-o", "remount,ro", ro)
        expect_refused(t, start_monitor, os.path.join(ro, "t.db"), pin_base,
                       "not writable")
    finally:
        e2e.sh("umount", ro)


def warnings(mon):
    return [l for l in mon.stderr().splitlines() if "warning" in l]


def test_disk_full_then_space_loses_nothing(topo, start_monitor, sinks,
                                            dbdir):
    t = topo
    mnt = os.path.join(dbdir, "small")
    os.mkdir(mnt)
    e2e.sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt)
    filler = os.path.join(mnt, "filler")
    try:
        db = os.path.join(mnt, "traffic.db")
        mon = start(start_monitor, t, db, "-s", "0.1")
        a = send_both_ways(t, [100])
        time.sleep(0.5)
        # Fill the filesystem: the next commits cannot grow the WAL.
        e2e.sh("dd", "if=/dev/zero", "of=" + filler, "bs=4k", check=False)
        b = {}
        for i in range(10):
            b = e2e.merge_counts(b, send_both_ways(t, [200 + i]))
            time.sleep(0.2)
        ws = warnings(mon)
        assert len(ws) == 1 and "full" in ws[0], mon.stderr()
        # Counting goes on in memory meanwhile.
        assert scraped_per_ip(mon)[0] == e2e.merge_counts(a, b)
        os.unlink(filler)
        c = send_both_ways(t, [300])
        t.wait_quiet()
        time.sleep(0.5)
        assert len(warnings(mon)) == 1, mon.stderr()
        assert mon.stop() == 0, mon.stderr()
        assert stored_per_ip(db) == e2e.merge_counts(a, b, c)
    finally:
        e2e.sh("umount", "-l", mnt, check=False)


def test_locked_then_released_loses_nothing(topo, start_monitor, sinks,
                                            dbdir):
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    mon = start(start_monitor, t, db)
    a = send_both_ways(t, [100])
    time.sleep(0.5)
    con = sqlite3.connect(db, isolation_level=None, timeout=10)
    con.execute("BEGIN IMMEDIATE")  # a long writer holds the lock
    try:
        b = send_both_ways(t, [200, 300])
        time.sleep(1.5)
        ws = warnings(mon)
        assert len(ws) == 1 and "locked" in ws[0], mon.stderr()
        assert scraped_per_ip(mon)[0] == e2e.merge_counts(a, b)
    finally:
        con.execute("ROLLBACK")
        con.close()
    c = send_both_ways(t, [400])
    t.wait_quiet()
    time.sleep(0.5)
    assert len(warnings(mon)) == 1, mon.stderr()
    assert mon.stop() == 0, mon.stderr()
    assert stored_per_ip(db) == e2e.merge_counts(a, b, c)


def test_deleted_db_is_recreated(topo, start_monitor, sinks, dbdir):
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    mon = start(start_monitor, t, db)
    a = send_both_ways(t, [100])
    t.wait_quiet()
    time.sleep(0.5)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    b = send_both_ways(t, [222, 333])
    t.wait_quiet()
    time.sleep(0.5)
    ws = warnings(mon)
    assert len(ws) == 1 and "deleted" in ws[0], mon.stderr()
    # Memory kept everything; the new file has what came after.
    assert scraped_per_ip(mon)[0] == e2e.merge_counts(a, b)
    assert mon.stop() == 0, mon.stderr()
    assert stored_per_ip(db) == b


@pytest.mark.parametrize("point", ["after-swap", "after-commit"])
def test_crash_at_the_critical_instants(topo, start_monitor, sinks, dbdir,
                                        itm_bin, pin_base, point):
    """The daemon kills itself (SIGKILL) right after swapping a map out
    (its counts are only in that map) or right after the commit (they are
    in the database and still in the map): the next start must neither
    lose nor double them."""
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    truth = {}
    for rnd in range(3):
        os.environ["ITM_TEST_KILL_AT"] = "%s:%d" % (point, 3 + rnd)
        try:
            mon = start(start_monitor, t, db, "-s", "0.3")
        finally:
            del os.environ["ITM_TEST_KILL_AT"]
        # Traffic until it dies, so the swapped-out map holds some.
        deadline = time.monotonic() + 20
        while mon.proc.poll() is None and time.monotonic() < deadline:
            truth = e2e.merge_counts(truth, send_both_ways(t, [100 + rnd]))
            time.sleep(0.03)
        rc = mon.wait(timeout=20)
        assert rc == -signal.SIGKILL, (rc, mon.stderr())
        # Counted by the kernel alone while no daemon runs.
        truth = e2e.merge_counts(truth, send_both_ways(t, [333]))
    mon = start(start_monitor, t, db)
    t.wait_quiet()
    assert scraped_per_ip(mon)[0] == truth
    assert mon.stop() == 0, mon.stderr()
    assert stored_per_ip(db) == truth


def test_overflow_reconciles(topo, start_monitor, sinks, dbdir):
    """--map-size 4 for 7 peers: what finds no slot is stored as
    traffic_other 'overflow'; traffic + overflow = ip_traffic_all_*."""
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    mon = start(start_monitor, t, db, "--map-size", "4", "-s", "5")
    truth = send_both_ways(t, [100, 900])
    t.wait_quiet()
    m = mon.scrape()
    assert mon.stop() == 0, mon.stderr()
    tot = e2e.sum_counts(truth)
    stored = e2e.sum_counts(stored_per_ip(db))
    otx, orx = stored_overflow(db)
    assert otx > 0 and orx > 0
    assert stored["tx_bytes"] + otx == tot["tx_bytes"]
    assert stored["rx_bytes"] + orx == tot["rx_bytes"]
    assert m.value("ip_traffic_all_tx_bytes_total") == tot["tx_bytes"]
    assert m.value("ip_traffic_all_rx_bytes_total") == tot["rx_bytes"]


def test_other_pinned_layout_is_refused(topo, start_monitor, itm_bin,
                                        pin_base, dbdir):
    """Maps pinned by a version with another layout are never read: the
    start is refused with one line naming `detach`, the old programs keep
    counting untouched, and `detach` removes them."""
    t = topo
    mon = start_monitor(t, "--keep-attached")
    assert mon.stop() == 0, mon.stderr()
    meta = os.path.join(pin_base, t.instance(), "itm_meta")
    e2e.sh("bpftool", "map", "update", "pinned", meta, "key", "0", "0", "0",
           "0", "value", *(["99"] + ["0"] * 39))
    db = os.path.join(dbdir, "traffic.db")
    mon = start_monitor(t, "--db", db, wait=False)
    rc = mon.wait(timeout=20)
    err = mon.stderr()
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "layout 99" in err and "detach" in err, err
    assert len(t.attached_programs()) == 2
    p = e2e.sh("nsenter", "--net=/run/netns/%s" % t.mns, itm_bin, "detach",
               "-i", t.mif, "--pin-dir", pin_base, check=False)
    assert p.returncode == 0, p.stderr
    assert t.attached_programs() == []
    assert not os.path.exists(os.path.join(pin_base, t.instance()))


def test_two_interfaces_kill9_and_restart(topo, start_monitor, sinks,
                                          dbdir):
    """Two interfaces in one database: per-interface rows, one
    transaction per drain for both, adoption of both after kill -9."""
    t = topo
    mon2, peer2 = "10.78.0.1", "10.78.0.11"
    t.add_pair("itm1m", "itm1p", mon2, peer2)
    s2 = [e2e.Sinks(t.pns, [peer2], PORT), e2e.Sinks(t.mns, [mon2], PORT)]
    db = os.path.join(dbdir, "traffic.db")
    ifaces = [t.mif, "itm1m"]

    def traffic(sizes):
        truth = send_both_ways(t, sizes)
        b, p = e2e.udp_send(t.mns, mon2, peer2, PORT, sizes)
        e2e.add_counts(truth, peer2, "tx", b, p)
        b, p = e2e.udp_send(t.pns, peer2, mon2, PORT, sizes)
        e2e.add_counts(truth, peer2, "rx", b, p)
        return truth

    try:
        mon = start_monitor(t, "--db", db, "-s", "0.1", ifaces=ifaces)
        truth = traffic([100, 200])
        mon.kill()
        truth = e2e.merge_counts(truth, traffic([300]))
        mon = start_monitor(t, "--db", db, "-s", "0.1", ifaces=ifaces)
        truth = e2e.merge_counts(truth, traffic([400]))
        t.wait_quiet()
        assert scraped_per_ip(mon)[0] == truth
        assert mon.stop() == 0, mon.stderr()
    finally:
        for x in s2:
            x.close()
    assert stored_per_ip(db) == truth
    by_iface = dict(db_rows(db, "SELECT iface, sum(tx_bytes) FROM traffic"
                            " WHERE remote_ip = ? GROUP BY iface", (peer2,)))
    assert by_iface == {"itm1m": truth[peer2]["tx_bytes"]}
