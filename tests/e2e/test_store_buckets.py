# SPDX-License-Identifier: MIT
"""Store buckets by counting time: traffic counted while the store is down
is stored, after recovery, in the buckets of the drains that counted it,
not in the bucket of the recovery.  3-second buckets (--db-interval 3),
drains every 0.2 s; the generator sends 1.5 s into a bucket (well inside
it: a drain 0.2 s later is in the same bucket even on a loaded machine)
and notes the bucket of each send.  Per (bucket, remote address) the
stored sums must equal what was sent in that bucket, exactly.

SQLite: the file lives on a 2 MiB tmpfs mounted in the monitor's own mount
namespace (unshare -m around the daemon; the test reaches it through
/proc/PID/root); another process holds the write lock for two buckets,
then the file system is filled for two buckets.  PostgreSQL (a private
cluster): the server stopped for two buckets, then crashed (a backend
killed with SIGKILL: the postmaster resets every session and recovers)
for two buckets.  libpq notices: a trigger the test creates RAISEs a
WARNING with a two-line DETAIL and a HINT at the daemon's commit: one log
line at warning level; the crash's "terminating connection" WARNINGs are
one line each too.  (The writer's sessions ask for WARNING and above
only; how NOTICE/INFO/LOG map is in tests/unit/test_store_pg_sql.c.)"""

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

import itm_e2e as e2e
import pg_cluster as pc

PORT = 5017
IV = 3  # --db-interval
OFFSET = 1.5  # seconds into a bucket at which the generator sends


def wait_offset():
    """Sleep until OFFSET seconds into the next bucket; returns its ts."""
    now = time.time()
    start = (int(now) // IV) * IV
    if now - start > OFFSET - 0.05:
        start += IV
    time.sleep(start + OFFSET - now if start + OFFSET > now else 0)
    return start


def send_bucket(t, truth, n):
    """Known UDP both ways to every peer, inside one bucket: sizes differ
    per round so that a count in the wrong bucket changes two sums."""
    ts = wait_offset()
    sizes = [100 + 37 * n, 900 + n]
    for peer in t.peers:
        mine = t.mon_addr_for(peer)
        b, p = e2e.udp_send(t.mns, mine, peer, PORT, sizes)
        e2e.add_counts(truth.setdefault(ts, {}), peer, "tx", b, p)
        b, p = e2e.udp_send(t.pns, peer, mine, PORT, sizes[:1])
        e2e.add_counts(truth[ts], peer, "rx", b, p)
    # Well inside: the sends took far less than the margin.
    assert time.time() < ts + IV - 1.0, "the generator was too slow"
    return ts


def rows_to_table(rows):
    out = {}
    for ts, ip, tb, tp, rb, rp in rows:
        out.setdefault(int(ts), {})[ip] = {
            "tx_bytes": int(tb), "tx_packets": int(tp),
            "rx_bytes": int(rb), "rx_packets": int(rp)}
    return out


PER_BUCKET = ("SELECT ts, remote_ip, sum(tx_bytes), sum(tx_packets),"
              " sum(rx_bytes), sum(rx_packets) FROM traffic"
              " GROUP BY ts, remote_ip")


def settle(read, truth, timeout=20):
    """The stored per-bucket table once it equals truth (or the last one
    read when the time is up)."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = read()
        except (sqlite3.Error, subprocess.CalledProcessError) as e:
            got = repr(e)
        if got == truth:
            break
        time.sleep(0.3)
    return got


def totals(table):
    s = {"tx_bytes": 0, "tx_packets": 0, "rx_bytes": 0, "rx_packets": 0}
    for per_ip in table.values():
        for v in per_ip.values():
            for k in s:
                s[k] += v[k]
    return s


def level_lines(mon, needle):
    return [l for l in mon.stderr().splitlines() if needle in l]


@pytest.fixture
def sinks(topo):
    s = [e2e.Sinks(topo.pns, topo.peers, PORT),
         e2e.Sinks(topo.mns, topo.mon_addrs, PORT)]
    yield
    for x in s:
        x.close()


# SQLite resolves symbolic links in a path (/proc/PID/root among them), so
# the file is opened from inside the daemon's mount namespace instead.
LOCK_PY = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
c.execute("ROLLBACK")
"""

READ_PY = """
import json, sqlite3, sys
c = sqlite3.connect("file:%%s?mode=ro" %% sys.argv[1], uri=True, timeout=10)
print(json.dumps(c.execute(%r).fetchall()))
""" % PER_BUCKET


def in_mntns(m, code, db, **kw):
    return subprocess.Popen(
        # -r: the daemon's root too (setns() to a mount namespace would
        # otherwise put us at its root, outside a chroot the test runs in).
        ["nsenter", "-t", str(m.proc.pid), "-m", "-r", "/usr/bin/python3",
         "-c", code, db], stdout=subprocess.PIPE, text=True, **kw)


def test_sqlite_locked_and_full(request, topo, sinks, itm_bin, pin_base,
                                tmp_path):
    t = topo
    mnt = str(tmp_path / "small")
    os.mkdir(mnt)
    # The daemon in a mount namespace of its own with a 2 MiB tmpfs: the
    # host's mount table never sees it, and it goes with the daemon.
    wrapper = tmp_path / "in_mntns.sh"
    wrapper.write_text(
        "#!/bin/sh\nexec unshare -m --propagation private sh -c "
        "'mount -t tmpfs -o size=2m tmpfs \"$0\" && exec \"$@\"' %s %s "
        "\"$@\"\n" % (mnt, itm_bin))
    wrapper.chmod(0o755)
    db = os.path.join(mnt, "traffic.db")
    m = e2e.Monitor(str(wrapper), t, pin_base,
                    ["-d", "0", "-t", "0", "--quiet", "--db", db,
                     "--db-interval", str(IV), "-s", "0.2"],
                    tmpdir=str(tmp_path))
    request.addfinalizer(m.close)
    m.start()
    try:
        truth = {}
        n = 0

        def send(k=1):
            nonlocal n
            for _ in range(k):
                send_bucket(t, truth, n)
                n += 1

        send()  # stored as it happens
        # Another writer holds the lock for two buckets.
        holder = in_mntns(m, LOCK_PY, db, stdin=subprocess.PIPE)
        try:
            assert holder.stdout.readline() == "locked\n"
            send(2)
        finally:
            holder.stdin.close()
            assert holder.wait(timeout=30) == 0
        send()  # the bucket of the recovery
        # The file system full for two buckets (the daemon's mount
        # namespace, reached through its /proc/PID/root).
        filler = "/proc/%d/root%s" % (m.proc.pid,
                                      os.path.join(mnt, "filler"))
        e2e.sh("dd", "if=/dev/zero", "of=" + filler, "bs=4k",
               check=False)
        send(2)
        os.unlink(filler)
        send()

        def read():
            p = in_mntns(m, READ_PY, db)
            out, _ = p.communicate(timeout=30)
            if p.returncode:
                raise subprocess.CalledProcessError(p.returncode, "read")
            return rows_to_table(json.loads(out))

        got = settle(read, truth)
        assert got == truth, (got, truth, m.stderr())
        assert totals(got) == totals(truth)
        ws = level_lines(m, "warning")
        assert len(ws) == 2, m.stderr()
        assert "locked" in ws[0] and "full" in ws[1], m.stderr()
    finally:
        err = m.stderr()
        assert m.stop() == 0, err


@pytest.fixture
def cluster():
    if not pc.available():
        pytest.fail("PostgreSQL 15 server binaries missing (postgresql-15)")
    c = pc.Cluster(port=54300 + (os.getpid() + 11) % 500).init().start()
    yield c
    c.teardown()


NOTICE_SQL = """
CREATE TABLE itm_test_said(x int);
CREATE FUNCTION itm_test_say() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM itm_test_said) THEN
    INSERT INTO itm_test_said VALUES (1);
    RAISE WARNING 'itm test warning'
      USING DETAIL = E'first line\nsecond line', HINT = 'a hint';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER itm_test_say AFTER UPDATE ON ifaces
  FOR EACH STATEMENT EXECUTE FUNCTION itm_test_say();
"""


def crash_server(cluster):
    """SIGKILL one backend (a session of ours): the postmaster terminates
    every other session and recovers on its own."""
    p = subprocess.Popen(
        ["psql", "-X", "-q", "-h", cluster.dir, "-p", str(cluster.port),
         "-U", "postgres", "-d", "postgres", "-c",
         "SELECT pg_sleep(60)"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        pid = None
        for _ in range(50):
            r = cluster.psql("SELECT pid FROM pg_stat_activity WHERE"
                             " query LIKE 'SELECT pg_sleep(60)%'")
            if r:
                pid = int(r[0][0])
                break
            time.sleep(0.1)
        assert pid, "no backend to kill"
        os.kill(pid, signal.SIGKILL)
    finally:
        p.wait(timeout=30)


def wait_accepting(cluster, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cluster.psql("SELECT 1")
            return
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    raise TimeoutError("the server did not come back")


def test_pg_stopped_and_crashed(topo, start_monitor, sinks, cluster):
    t = topo
    mon = start_monitor(t, "--db", cluster.url(), "--db-interval", str(IV),
                        "-s", "0.2")
    truth = {}
    n = 0

    def send(k=1):
        nonlocal n
        for _ in range(k):
            send_bucket(t, truth, n)
            n += 1

    cluster.psql(NOTICE_SQL)  # the schema exists once the monitor is up
    send()
    cluster.stop()
    send(2)
    cluster.start()
    send()
    crash_server(cluster)
    send(2)
    wait_accepting(cluster)
    send()

    def read():
        return rows_to_table(cluster.psql(PER_BUCKET))

    got = settle(read, truth)
    assert got == truth, (got, truth, mon.stderr())
    assert totals(got) == totals(truth)
    assert mon.stop() == 0, mon.stderr()
    err = mon.stderr().splitlines()
    prefix = "ip_traffic_monitor_cli: "
    # Each notice: one line, our prefix, its level, detail and hint on it.
    w = [l for l in err if "itm test warning" in l]
    assert w == [prefix + "warning: PostgreSQL server: itm test warning"
                 " DETAIL: first line second line HINT: a hint"], err
    c = [l for l in err if "because of crash of another" in l]
    assert c, err
    assert all(l.startswith(prefix + "warning: PostgreSQL server: "
                            "terminating connection because of crash")
               and " DETAIL: " in l and " HINT: " in l for l in c), err
    # Nothing of libpq's own printing reached the log.
    assert not [l for l in err if l.startswith(("WARNING:", "NOTICE:",
                                                "DETAIL:", "HINT:"))], err
