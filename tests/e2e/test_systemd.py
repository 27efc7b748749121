# SPDX-License-Identifier: MIT
"""The service under a real systemd: this machine's OS booted in a
container (systemd-nspawn, systemd as PID 1), our unit, sysusers.d entry
and /etc/default file installed in it, a veth pair from the container's
network namespace to a test namespace, and for real:

- `systemctl start` returns (active) only once READY=1 was sent, which the
  daemon does after every interface is attached and the port listens;
- the daemon runs as the service user with no capability left;
- a scrape is exact; `systemctl reload` reopens a replaced database and
  says so in one line, at notice priority, in the journal;
- kill -9 of the main process: systemd restarts it, the new instance
  adopts the programs that kept counting, and with the SQL store not one
  byte is lost or counted twice, including what crossed while no daemon ran;
- a stopped (SIGSTOP) daemon is killed by the watchdog and restarted;
- `systemctl stop` ends it cleanly: exit status 0, the final drain in the
  database, the programs left counting for the next start (--keep-attached);
- a bad setting fails the start with one line, at error priority, and is
  not retried;
- with ip_traffic_monitor.socket started instead, systemd holds the port
  and the first scrape starts the service, which serves on that socket
  (not binding -p itself) and answers it exactly;
- with ITM_OPTS="--reattach --clsact" in /etc/default (no change to the
  unit) the daemon keeps CAP_NET_ADMIN permitted and bounding only, none
  effective, in every thread, and a veth deleted and created again is
  attached again and counted exactly.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import itm_e2e as e2e
import itm_nspawn

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.dirname(e2e.default_bin())
UNIT = "ip_traffic_monitor.service"
SOCKET = "ip_traffic_monitor.socket"
PORT = 10749
SINK = 5001
DB = "/var/lib/ip_traffic_monitor/traffic.db"


def _read(path):
    with open(path) as f:
        return f.read()


def installed_unit(binary):
    """Our unit as meson configured it, with the two paths that depend on
    the install prefix pointed at this test's binary and /etc/default."""
    text = _read(os.path.join(BUILD, "systemd", UNIT))
    text = re.sub(r"(ExecStart=!)\S+/ip_traffic_monitor_cli",
                  r"\g<1>" + binary, text)
    return re.sub(r"EnvironmentFile=-\S+/default/",
                  "EnvironmentFile=-/etc/default/", text)


@pytest.fixture(scope="module")
def geo_dir():
    d = tempfile.mkdtemp(prefix="itm-svc-geo-")
    os.chmod(d, 0o755)
    subprocess.run(["perl", os.path.join(HERE, "fixtures", "mkgeo.pl"), d],
                   check=True)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    shutil.copyfile(os.path.join(d, "city1.mmdb"),
                    os.path.join(d, "city.mmdb"))
    os.chmod(os.path.join(d, "city.mmdb"), 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def machine(itm_bin, geo_dir):
    m = itm_nspawn.Machine(BUILD, binds=[(geo_dir, "/srv/itm-geo", False)])
    try:
        m.boot()
        m.write("/etc/systemd/system/" + UNIT,
                installed_unit("/opt/itm/" + os.path.basename(itm_bin)))
        m.write("/etc/systemd/system/" + SOCKET,
                _read(os.path.join(HERE, "..", "..", "systemd", SOCKET)))
        m.write("/etc/sysusers.d/ip_traffic_monitor.conf",
                _read(os.path.join(HERE, "..", "..", "systemd",
                                   "ip_traffic_monitor.sysusers")))
        m.run("systemd-sysusers")
        m.systemctl("daemon-reload")
        yield m
    finally:
        m.poweroff()


@pytest.fixture
def topo(machine, request):
    t = e2e.Topology(mon_netns=machine.netns)
    request.addfinalizer(t.teardown)
    t.setup()
    return t


@pytest.fixture
def service(machine, topo, request):
    """configure(opts, dropin=None): write /etc/default and a drop-in."""

    def configure(opts, dropin=None):
        machine.write("/etc/default/ip_traffic_monitor",
                      "# written by test_systemd.py\n"
                      "ITM_IFACES=%s\nITM_PORT=%d\nITM_OPTS=\"%s\"\n" %
                      (topo.mif, PORT, opts))
        d = "/etc/systemd/system/%s.d/test.conf" % UNIT
        if dropin:
            machine.write(d, "[Service]\n" + dropin)
        else:
            machine.run("rm", "-f", d)
        machine.systemctl("daemon-reload")
        machine.systemctl("reset-failed", UNIT, check=False)

    def cleanup():
        machine.systemctl("stop", UNIT, check=False)
        machine.systemctl("reset-failed", UNIT, check=False)
        # --keep-attached left it counting: remove it, and the history.
        machine.run(itm(machine), "detach", "-i", topo.mif, check=False)
        machine.run("sh", "-c", "rm -f %s %s-wal %s-shm" % (DB, DB, DB))
        machine.run("rm", "-f", "/etc/systemd/system/%s.d/test.conf" % UNIT)
        machine.systemctl("daemon-reload", check=False)

    request.addfinalizer(cleanup)
    return configure


def itm(machine):
    return "/opt/itm/ip_traffic_monitor_cli"


def stored(machine):
    """{remote_ip: {tx_bytes, tx_packets}} summed over the SQL store."""
    out = machine.run(itm(machine), "query", "--db", DB, "--csv",
                      "SELECT remote_ip, sum(tx_bytes), sum(tx_packets) "
                      "FROM traffic GROUP BY remote_ip").stdout
    rows = [line.split(",") for line in out.strip().splitlines()[1:]]
    return {r[0]: {"tx_bytes": int(r[1]), "tx_packets": int(r[2])}
            for r in rows}


def main_pid(machine):
    return int(machine.show(UNIT, "MainPID"))


def proc_status(machine, pid):
    st = {}
    for line in machine.run("cat", "/proc/%d/status" % pid).stdout.splitlines():
        k, _, v = line.partition(":")
        st[k] = v.split()
    return st


def scrape(t):
    st, _, body = e2e.http_request(t.mns, PORT)
    assert st == 200
    return e2e.Metrics(body.decode("utf-8"))


def send(t, peer, sizes, truth):
    b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, SINK, sizes)
    e2e.add_counts(truth, peer, "tx", b, p)


def assert_exact(m, truth):
    got = m.per_ip()
    for peer, want in truth.items():
        assert got[peer]["tx_bytes"] == want["tx_bytes"], peer
        assert got[peer]["tx_packets"] == want["tx_packets"], peer


def one_program_per_hook(t):
    progs = t.attached_programs()
    assert sorted(h for _, h, _ in progs) == ["egress", "ingress"], progs


def wait_for(what, fn, timeout=30, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(what)


def test_unit_verify_and_security(machine):
    """systemd-analyze verify is clean; the exposure score is <= 2.5."""
    p = machine.run("systemd-analyze", "verify", "--man=no", UNIT,
                    check=False)
    assert p.returncode == 0 and not p.stderr.strip() and \
        not p.stdout.strip(), p
    p = machine.run("systemd-analyze", "security", "--no-pager", UNIT,
                    check=False)
    score = re.search(r"Overall exposure level for %s: (\d+\.\d+)" %
                      re.escape(UNIT), p.stdout)
    assert score, p.stdout + p.stderr
    print("systemd-analyze security: %s" % score.group(1))
    assert float(score.group(1)) <= 2.5, p.stdout


def test_start_reload_stop(machine, topo, service, geo_dir):
    t = topo
    a, b, c = t.peer4[0], t.peer4[1], t.peer4[2]
    # -s 60: no interval passes during the test, so only the reload can
    # reopen the replaced database (and every scrape drains: still exact).
    service("-s 60 -t 0 -g /srv/itm-geo/city.mmdb")
    sinks = e2e.Sinks(t.pns, t.peers, SINK)
    truth = {}
    try:
        machine.systemctl("start", UNIT)
        # start returned: READY=1 came, so everything is up already.
        assert machine.show(UNIT, "ActiveState") == "active"
        one_program_per_hook(t)
        m0 = scrape(t)  # first try, no retry loop
        assert "Monitoring %s; metrics on port %d" % (t.mif, PORT) in \
            machine.show(UNIT, "StatusText")
        log = machine.system_journal(UNIT)
        assert log.rindex("monitoring %s (" % t.mif) < log.rindex("Started ")

        # Least privilege, as systemd runs it.
        pid = main_pid(machine)
        user = machine.run("getent", "passwd",
                           "ip_traffic_monitor").stdout.split(":")
        for task in machine.run("ls", "/proc/%d/task" % pid).stdout.split():
            st = proc_status(machine, int(task))
            assert st["Uid"] == [user[2]] * 4 and st["Gid"] == [user[3]] * 4
            for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(st[cap][0], 16) == 0, (task, cap, st[cap])
            assert st["NoNewPrivs"] == ["1"]

        send(t, a, [100, 200, 300], truth)
        send(t, b, [1000], truth)
        m1 = scrape(t)
        assert_exact(m1, truth)
        lab_a = [lab for lab, _ in m1.all("ip_traffic_tx_bytes_total")
                 if lab["remote_ip"] == a][0]
        assert lab_a["city"] == "南京市"

        # A new release renamed into place, then systemctl reload.
        tmp = os.path.join(geo_dir, "city.mmdb.new")
        shutil.copyfile(os.path.join(geo_dir, "city2.mmdb"), tmp)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(geo_dir, "city.mmdb"))
        machine.systemctl("reload", UNIT)
        # ExecReload= only sends SIGHUP: wait for the daemon's one line.
        reloads = wait_for("the reload line", lambda: [
            (p, msg) for p, msg in machine.journal(UNIT)
            if msg.startswith("reload:")])
        assert reloads == [(5, "reload: reopened 1 of 1 databases: "
                               "/srv/itm-geo/city.mmdb")], reloads
        assert machine.show(UNIT, "ActiveState") == "active"
        # The reload refreshed STATUS= from the table m1's scrape drained.
        sums = [sum(v[k] for v in truth.values())
                for k in ("tx_bytes", "tx_packets")]
        assert wait_for("STATUS= after the reload", lambda: machine.show(
            UNIT, "StatusText") == (
            "Tracking 2 remote addresses; %d bytes, %d packets counted" %
            tuple(sums)))
        send(t, c, [400], truth)
        m2 = scrape(t)
        assert_exact(m2, truth)
        lab_c = [lab for lab, _ in m2.all("ip_traffic_tx_bytes_total")
                 if lab["remote_ip"] == c][0]
        assert lab_c["city"] == "上海市", lab_c

        machine.systemctl("stop", UNIT)
    finally:
        sinks.close()
    assert machine.show(UNIT, "ActiveState") == "inactive"
    assert machine.show(UNIT, "Result") == "success"
    assert machine.show(UNIT, "ExecMainStatus") == "0"
    assert int(machine.show(UNIT, "NRestarts")) == 0
    # The final drain is in the database; the programs still count.
    want = {ip: {k: v[k] for k in ("tx_bytes", "tx_packets")}
            for ip, v in truth.items()}
    assert stored(machine) == want
    one_program_per_hook(t)
    assert m0.names()


def test_kill9_is_restarted_and_loses_nothing(machine, topo, service):
    t = topo
    peer = t.peer4[0]
    service("-s 0.5 -t 0")
    sinks = e2e.Sinks(t.pns, [peer], SINK)
    truth = {}
    try:
        machine.systemctl("start", UNIT)
        send(t, peer, [100, 200], truth)
        assert_exact(scrape(t), truth)
        old = main_pid(machine)
        machine.run("kill", "-9", str(old))
        # No daemon now (RestartSec=2s): the programs it left count alone.
        wait_for("the main process gone", lambda: main_pid(machine) != old)
        send(t, peer, [300, 400, 500], truth)
        wait_for("restart after kill -9", lambda: (
            machine.show(UNIT, "NRestarts") == "1" and
            machine.show(UNIT, "ActiveState") == "active" and
            main_pid(machine) not in (0, old)))
        log = machine.system_journal(UNIT)
        assert "Main process exited, code=killed, status=9/KILL" in log
        # The new instance adopted the attachment: still one of each.
        one_program_per_hook(t)
        send(t, peer, [600], truth)
        # Every byte, before, during and after, exactly once.
        assert_exact(scrape(t), truth)
        machine.systemctl("stop", UNIT)
    finally:
        sinks.close()
    assert stored(machine) == {
        peer: {k: truth[peer][k] for k in ("tx_bytes", "tx_packets")}}


def test_watchdog_kills_a_stopped_daemon(machine, topo, service):
    t = topo
    # -s 10 is far longer than the watchdog period: the loop must wake
    # for the watchdog on its own.
    service("-s 10 -t 0", dropin="WatchdogSec=2s\nTimeoutAbortSec=2s\n")
    machine.systemctl("start", UNIT)
    old = main_pid(machine)
    time.sleep(6)
    assert main_pid(machine) == old
    assert machine.show(UNIT, "NRestarts") == "0"
    assert machine.show(UNIT, "ActiveState") == "active"
    machine.run("kill", "-STOP", str(old))
    wait_for("watchdog restart", lambda: (
        machine.show(UNIT, "NRestarts") == "1" and
        machine.show(UNIT, "ActiveState") == "active" and
        main_pid(machine) not in (0, old)), timeout=40)
    assert "Watchdog timeout" in machine.system_journal(UNIT)
    one_program_per_hook(t)
    scrape(t)


def thread_caps(machine, pid):
    """Every thread of pid: {CapInh, CapPrm, CapEff, CapBnd, CapAmb}."""
    out = {}
    for task in machine.run("ls", "/proc/%d/task" % pid).stdout.split():
        st = proc_status(machine, int(task))
        assert st["NoNewPrivs"] == ["1"], (task, st["NoNewPrivs"])
        out[task] = {cap: int(st[cap][0], 16) for cap in
                     ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    return out


def test_reattach_from_the_default_file(machine, topo, service):
    """The operator's opt-in is one word in /etc/default: the unit is the
    same (its exposure score too), the daemon keeps only CAP_NET_ADMIN,
    permitted and bounding, never effective outside the attach itself."""
    t = topo
    peer = t.peer4[0]
    kept = 1 << 12  # CAP_NET_ADMIN
    want_caps = {"CapInh": 0, "CapPrm": kept, "CapEff": 0, "CapBnd": kept,
                 "CapAmb": 0}
    service("-s 60 -t 0 --clsact --reattach")
    truth = {}
    sinks = e2e.Sinks(t.pns, [peer], SINK)
    try:
        machine.systemctl("start", UNIT)
        pid = main_pid(machine)
        caps = thread_caps(machine, pid)
        assert len(caps) >= 2 and all(c == want_caps for c in
                                      caps.values()), caps
        send(t, peer, [100, 200], truth)
        assert_exact(scrape(t), truth)
    finally:
        sinks.close()

    e2e.nsx(t.mns, "ip", "link", "del", t.mif)
    wait_for("the deletion logged", lambda: any(
        "disappeared" in msg for _, msg in machine.journal(UNIT)))
    e2e.recreate_veth(t)
    wait_for("attached again", lambda: any(
        msg == "%s is back: attached again (clsact)" % t.mif
        for _, msg in machine.journal(UNIT)))
    progs = t.attached_programs()
    assert sorted(h for _, h, _ in progs) == ["clsact/egress",
                                              "clsact/ingress"], progs
    # The same threads, and those started since (persist's writer starts
    # at the first commit) with the same capabilities.
    after = thread_caps(machine, pid)
    assert set(caps) <= set(after) and all(c == want_caps for c in
                                           after.values()), (caps, after)
    sinks = e2e.Sinks(t.pns, [peer], SINK)
    try:
        send(t, peer, [300, 400, 500], truth)
        m = scrape(t)
    finally:
        sinks.close()
    assert_exact(m, truth)
    assert m.value("ip_traffic_interface_reattached_total",
                   iface=t.mif) == 1
    assert machine.show(UNIT, "ActiveState") == "active"
    assert main_pid(machine) == pid
    assert not [msg for prio, msg in machine.journal(UNIT) if prio <= 3]
    machine.systemctl("stop", UNIT)
    assert machine.show(UNIT, "Result") == "success"


def test_socket_activation(machine, topo, service):
    t = topo
    service("-s 60 -t 0")
    p = machine.run("systemd-analyze", "verify", "--man=no", SOCKET,
                    check=False)
    assert p.returncode == 0 and not p.stderr.strip(), p
    sinks = e2e.Sinks(t.pns, t.peers, SINK)
    truth = {}
    try:
        machine.systemctl("start", SOCKET)
        assert machine.show(SOCKET, "ActiveState") == "active"
        assert machine.show(UNIT, "ActiveState") == "inactive"
        assert t.attached_programs() == []
        # The first scrape waits in the socket's backlog while systemd
        # starts the service; answered once it is ready.
        st, _, body = e2e.http_request(t.mns, PORT, timeout=60)
        assert st == 200
        assert machine.show(UNIT, "ActiveState") == "active"
        one_program_per_hook(t)
        assert any("socket activation" in msg
                   for _, msg in machine.journal(UNIT))
        send(t, t.peer4[0], [100, 1400], truth)
        assert_exact(scrape(t), truth)
        machine.systemctl("stop", UNIT)
        # The socket stays; the next scrape starts the service again.
        st, _, _ = e2e.http_request(t.mns, PORT, timeout=60)
        assert st == 200
        assert machine.show(UNIT, "ActiveState") == "active"
    finally:
        sinks.close()
        machine.systemctl("stop", SOCKET, UNIT, check=False)
    assert machine.show(UNIT, "ExecMainStatus") == "0"


def test_bad_setting_fails_once(machine, topo, service):
    service("-s 0.5 --geoip-db /srv/itm-geo/missing.mmdb")
    p = machine.systemctl("start", UNIT, check=False)
    assert p.returncode != 0
    assert machine.show(UNIT, "ActiveState") == "failed"
    assert machine.show(UNIT, "ExecMainStatus") == "2"
    time.sleep(3)  # longer than RestartSec=: no restart for status 2
    assert machine.show(UNIT, "NRestarts") == "0"
    lines = machine.journal(UNIT)
    assert len(lines) == 1 and lines[0][0] == 3, lines
    assert "missing.mmdb" in lines[0][1]
    assert topo.attached_programs() == []
