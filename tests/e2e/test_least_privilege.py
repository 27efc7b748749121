# SPDX-License-Identifier: MIT
"""--user: after attaching, pinning, binding and opening its files the
daemon runs as an ordinary user with no capability in any set, no_new_privs
set, in every thread, and everything it does while running still works:
exact counting and drains, scrapes, process attribution (scans, names,
pruning of exited processes), SIGHUP reloads, flushes to the SQL store,
the final drain, flush and summary on SIGTERM, and detaching on exit."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import itm_e2e as e2e

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = 5001


@pytest.fixture
def geo_dir():
    """Fixture databases where the user nobody can read them (pytest's
    tmp_path is private to root)."""
    d = tempfile.mkdtemp(prefix="itm-priv-geo-")
    os.chmod(d, 0o755)
    subprocess.run(["perl", os.path.join(HERE, "fixtures", "mkgeo.pl"), d],
                   check=True)
    shutil.copyfile(os.path.join(d, "city1.mmdb"),
                    os.path.join(d, "city.mmdb"))
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def udp_sender(gate, src, dst, port, sizes):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    gate.wait_go()
    b = 0
    for n in sizes:
        assert s.sendto(b"p" * n, (dst, port)) == n
        b += n + e2e.ip_overhead(dst)
    s.close()
    return b, len(sizes)


def status(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.split()
    return st


def labels(m, ip):
    return [dict(lab) for lab, _ in m.all("ip_traffic_tx_bytes_total")
            if lab["remote_ip"] == ip][0]


def proc_series(m, ip, pid):
    return {lab["process"]: v for lab, v in
            m.all("ip_traffic_process_tx_bytes_total")
            if lab["remote_ip"] == ip and lab["pid"] == str(pid)}


def wait_stderr(mon, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in mon.stderr():
        assert time.monotonic() < deadline, mon.stderr()
        time.sleep(0.1)


def stored(itm_bin, db):
    """{remote_ip: [tx_bytes, tx_packets]} summed over the store."""
    p = subprocess.run([itm_bin, "query", "--db", db, "--csv",
                        "SELECT remote_ip, sum(tx_bytes), sum(tx_packets) "
                        "FROM traffic GROUP BY remote_ip"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p
    rows = [line.split(",") for line in p.stdout.strip().splitlines()[1:]]
    return {r[0]: [int(r[1]), int(r[2])] for r in rows}


def summary_row(text, ip):
    for line in text.splitlines():
        toks = line.split()
        if ip in toks:
            nums = [int(x) for x in toks[toks.index(ip) + 1:] if x.isdigit()]
            return nums[:4]
    raise AssertionError("%s not in summary:\n%s" % (ip, text))


def test_user_without_capabilities_keeps_everything_working(
        topo, start_monitor, pin_base, geo_dir, itm_bin):
    t = topo
    a, b, c = t.peer4[0], t.peer4[1], t.peer4[2]
    nobody = pwd.getpwnam("nobody")
    city = os.path.join(geo_dir, "city.mmdb")
    # In a directory only root may write to, as outside systemd.
    db = os.path.join(geo_dir, "traffic.db")
    sinks = e2e.Sinks(t.pns, t.peers, SINK)
    truth = {}
    try:
        mon = start_monitor(t, "-s", "0.2", "--pid-retention", "1", "-g",
                            city, "--db", db, "--user", "nobody")
        pid = mon.proc.pid
        # Every thread (the HTTP server's too): nobody, no capability.
        tasks = os.listdir("/proc/%d/task" % pid)
        assert len(tasks) >= 2, tasks
        for task in tasks:
            st = status(int(task))
            assert st["Uid"] == [str(nobody.pw_uid)] * 4, st["Uid"]
            assert st["Gid"] == [str(nobody.pw_gid)] * 4, st["Gid"]
            for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(st[cap][0], 16) == 0, (task, cap, st[cap])
            assert st["NoNewPrivs"] == ["1"], st["NoNewPrivs"]
        assert "running as user nobody without capabilities" in mon.stderr()

        # Counting, drains (-s 0.2 swaps maps many times) and scrapes.
        for sizes in ([100, 200], [300], [400, 500, 600]):
            bb, pp = e2e.udp_send(t.mns, t.MON4, a, SINK, sizes)
            e2e.add_counts(truth, a, "tx", bb, pp)
            time.sleep(0.5)
        m1 = mon.scrape()
        assert m1.per_ip()[a]["tx_bytes"] == truth[a]["tx_bytes"]
        assert m1.per_ip()[a]["tx_packets"] == truth[a]["tx_packets"]
        assert labels(m1, a)["city"] == "南京市"
        # Flushes as nobody: every drain commits to the store.
        time.sleep(0.5)
        assert stored(itm_bin, db)[a] == [truth[a]["tx_bytes"],
                                          truth[a]["tx_packets"]]
        assert os.stat(db).st_uid == nobody.pw_uid

        # A process started after the drop is attributed, by name, and its
        # series go once it has exited for --pid-retention.
        child = e2e.Forked(t.mns, udp_sender, t.MON4, b, SINK,
                           [111, 222, 333], name="itm-unpriv", gated=True)
        child.go()
        bb, pp = child.wait()
        e2e.add_counts(truth, b, "tx", bb, pp)
        m2 = mon.scrape()
        assert proc_series(m2, b, child.pid) == {"itm-unpriv": bb}
        time.sleep(3.0)  # > retention + a prune period
        m3 = mon.scrape()
        assert proc_series(m3, b, child.pid) == {}
        assert m3.per_ip()[b]["tx_bytes"] == truth[b]["tx_bytes"]

        # SIGHUP reopens the replaced database as nobody; one line says so.
        tmp = city + ".new"
        shutil.copyfile(os.path.join(geo_dir, "city2.mmdb"), tmp)
        os.chmod(tmp, 0o644)
        os.rename(tmp, city)
        os.kill(pid, signal.SIGHUP)
        wait_stderr(mon, "reload: reopened 1 of 1 databases: " + city)
        bb, pp = e2e.udp_send(t.mns, t.MON4, c, SINK, [700])
        e2e.add_counts(truth, c, "tx", bb, pp)
        m4 = mon.scrape()
        assert labels(m4, c)["city"] == "上海市"
        assert labels(m4, a)["city"] == "南京市"  # its series is not split

        # A database nobody may not read: the old data stays, with a
        # warning, and counting goes on.
        os.chmod(city, 0o600)
        os.utime(city, (1, 1))  # a change the interval check also sees
        os.kill(pid, signal.SIGHUP)
        wait_stderr(mon, "reload: reopened 0 of 1 databases")
        assert "Permission denied" in mon.stderr()

        # Sent after the last scrape: only the final drain can count it.
        bb, pp = e2e.udp_send(t.mns, t.MON4, a, SINK, [800, 900])
        e2e.add_counts(truth, a, "tx", bb, pp)
        assert mon.stop(signal.SIGTERM) == 0, mon.stderr()
    finally:
        sinks.close()
    out = mon.stdout()
    final = stored(itm_bin, db)
    for ip, want in truth.items():
        assert summary_row(out, ip)[:2] == [want["tx_bytes"],
                                            want["tx_packets"]], out
        # The final drain reached the database too.
        assert final[ip] == [want["tx_bytes"], want["tx_packets"]], ip
    assert "error" not in mon.stderr(), mon.stderr()
    assert "warning: process attribution" not in mon.stderr()
    # Detached and unpinned without privileges (through the pin
    # directory's descriptor; only the empty directory stays).
    assert t.attached_programs() == []
    d = os.path.join(pin_base, t.instance())
    assert not os.path.isdir(d) or os.listdir(d) == []


def test_unknown_user_is_an_error(topo, itm_bin, pin_base):
    p = subprocess.run(["nsenter", "--net=/run/netns/%s" % topo.mns,
                        itm_bin, "-i", topo.mif, "-d", "1", "--pin-dir",
                        pin_base, "--user", "no-such-user-itm"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-user-itm" in lines[0], p.stderr
    assert topo.attached_programs() == []
    p = subprocess.run(["nsenter", "--net=/run/netns/%s" % topo.mns,
                        itm_bin, "-i", topo.mif, "-d", "1", "--pin-dir",
                        pin_base, "--user", "root"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "unprivileged" in p.stderr, p
