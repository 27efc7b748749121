# SPDX-License-Identifier: MIT
"""Interfaces that come and go (WireGuard, PPP, container veths).

The monitored veth is deleted while the monitor runs: it notices at once
(rtnetlink, not the next sample: the interval here is 30 s), says so once
on stderr and in ip_traffic_interface_attached.  A veth of the same name is
then created again: the programs are attached to it and counting goes on,
into the same totals, exactly (ground truth: the datagrams sent, received
by a sink so that nothing answers).  For tcx links and clsact filters.

Under --user nothing is attached again unless --reattach asks for it: a
tcx link needs no capability; for clsact filters CAP_NET_ADMIN stays
permitted (and bounding) only, never effective in any thread but for the
attach itself."""

import os
import pwd
import shutil
import tempfile
import time

import pytest

import itm_e2e as e2e

PORT = 5011
CAP_NET_ADMIN = 1 << 12


def _wait_for(pred, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def _thread_caps(pid):
    """[(tid, {field: value})] of every thread of pid: ids and capability
    sets as /proc shows them."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        st = {}
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                k, _, v = line.partition(":")
                st[k] = v.split()
        out.append((tid, st))
    return out


def _assert_caps(pid, kept):
    """Every thread: the unprivileged user, nothing effective, inheritable
    or ambient; exactly `kept` permitted and in the bounding set."""
    nobody = pwd.getpwnam("nobody")
    threads = _thread_caps(pid)
    assert len(threads) >= 2, threads  # the HTTP server's thread too
    for tid, st in threads:
        assert st["Uid"] == [str(nobody.pw_uid)] * 4, (tid, st["Uid"])
        got = {cap: int(st[cap][0], 16) for cap in
               ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
        assert got == {"CapInh": 0, "CapPrm": kept, "CapEff": 0,
                       "CapBnd": kept, "CapAmb": 0}, (tid, got)
        assert st["NoNewPrivs"] == ["1"], (tid, st["NoNewPrivs"])


def _state(mon, t):
    m = mon.scrape()
    return (int(m.value("ip_traffic_interface_attached", iface=t.mif)),
            int(m.value("ip_traffic_interface_reattached_total",
                        iface=t.mif)))


@pytest.mark.parametrize("mode", ["tcx", "clsact"])
def test_deleted_and_recreated_interface(topo, start_monitor, mode):
    t = topo
    args = ["-s", "30"] + (["--clsact"] if mode == "clsact" else [])
    mon = start_monitor(t, *args)
    assert "(%s)" % mode in mon.stderr(), mon.stderr()
    peer = t.peer4[0]

    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        before = e2e.udp_send(t.pns, peer, t.MON4, PORT, [100 + i for i in
                                                          range(200)])
    finally:
        sink.close()
    assert _state(mon, t) == (1, 0)

    e2e.nsx(t.mns, "ip", "link", "del", t.mif)
    took = _wait_for(lambda: "disappeared" in mon.stderr(), 5)
    assert took is not None, mon.stderr()
    # The gauge follows the log line at once (same loop iteration).
    assert _wait_for(lambda: _state(mon, t) == (0, 0), 5) is not None
    m = mon.scrape()
    assert m.per_ip()[peer]["rx_bytes"] == before[0]

    e2e.recreate_veth(t)
    back = _wait_for(lambda: "attached again" in mon.stderr(), 5)
    assert back is not None, mon.stderr()
    assert _wait_for(lambda: _state(mon, t) == (1, 1), 5) is not None
    if mode == "tcx":
        progs = t.tcx_programs()
        assert progs["ingress"] and progs["egress"], progs
    else:
        assert "0x1749" in t.tc_filters() or "1749" in t.tc_filters()

    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        after = e2e.udp_send(t.pns, peer, t.MON4, PORT, [50 + i for i in
                                                         range(500)])
    finally:
        sink.close()
    t.wait_quiet(quiet_for=0.3)
    m = mon.scrape()
    got = m.per_ip()[peer]
    print("%s: deletion noticed after %.3f s, re-attached %.3f s after "
          "creation; %d + %d packets" % (mode, took, back, before[1],
                                         after[1]))
    assert got["rx_bytes"] == before[0] + after[0]
    assert got["rx_packets"] == before[1] + after[1]
    assert got["tx_packets"] == 0
    assert mon.stderr().count("disappeared") == 1
    assert mon.stderr().count("attached again") == 1
    # It still stops cleanly (nothing left attached on the new device).
    assert mon.stop() == 0
    assert t.tcx_programs() == {"ingress": [], "egress": []}
    assert "1749" not in t.tc_filters()


@pytest.mark.parametrize("mode", ["tcx", "clsact"])
def test_recreated_interface_under_user(topo, start_monitor, mode):
    """--user without --reattach: nothing is attached again (and no
    capability is kept, in any thread): the deletion is still noticed, the interface that comes back is reported
    once per appearance, the gauge stays at 0 and its traffic is not
    counted (nothing of ours is on the new device); the totals from before
    stay exact."""
    t = topo
    args = ["-s", "30", "--user", "nobody"] + (
        ["--clsact"] if mode == "clsact" else [])
    mon = start_monitor(t, *args)
    assert "(%s)" % mode in mon.stderr(), mon.stderr()
    _assert_caps(mon.proc.pid, 0)
    peer = t.peer4[0]

    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        before = e2e.udp_send(t.pns, peer, t.MON4, PORT, [100 + i for i in
                                                          range(200)])
    finally:
        sink.close()
    assert _state(mon, t) == (1, 0)

    for appearance in (1, 2):
        e2e.nsx(t.mns, "ip", "link", "del", t.mif)
        # Logged when it goes; it never came back for us, so only once.
        assert _wait_for(lambda: "disappeared" in mon.stderr(), 5) \
            is not None, mon.stderr()
        assert _wait_for(lambda: _state(mon, t) == (0, 0), 5) is not None
        e2e.recreate_veth(t)
        assert _wait_for(lambda: mon.stderr().count(
            "is back but not attached again") == appearance, 5) \
            is not None, mon.stderr()
        assert "again: --user without --reattach; restart" in mon.stderr()
        assert t.tcx_programs() == {"ingress": [], "egress": []}
        assert "1749" not in t.tc_filters()

        sink = e2e.Sinks(t.mns, [t.MON4], PORT)
        try:
            e2e.udp_send(t.pns, peer, t.MON4, PORT, [300] * 50)
        finally:
            sink.close()
        t.wait_quiet(quiet_for=0.3)
        assert _state(mon, t) == (0, 0)
        got = mon.scrape().per_ip()[peer]
        assert got["rx_bytes"] == before[0]
        assert got["rx_packets"] == before[1]
    # More link events (addresses, up/down) do not repeat the warning.
    e2e.nsx(t.mns, "ip", "link", "set", t.mif, "down")
    e2e.nsx(t.mns, "ip", "link", "set", t.mif, "up")
    time.sleep(0.3)
    assert mon.stderr().count("is back but not attached again") == 2
    assert mon.stderr().count("disappeared") == 1
    assert "attached again (" not in mon.stderr()
    assert mon.stop() == 0, mon.stderr()


@pytest.mark.parametrize("mode", ["tcx", "clsact"])
def test_recreated_interface_under_user_with_reattach(topo, start_monitor,
                                                      mode):
    """--user --reattach: the veth is deleted and created again twice;
    each time the programs are attached again and every datagram sent to
    the new device is counted, exactly.  Before, between and after the
    re-attaches every thread holds exactly the kept set permitted and
    bounding (tcx links: nothing; clsact filters: CAP_NET_ADMIN), nothing
    effective, inheritable or ambient.  On exit nothing of ours is left on
    the device, clsact filters included."""
    t = topo
    args = ["-s", "30", "--user", "nobody", "--reattach"] + (
        ["--clsact"] if mode == "clsact" else [])
    kept = CAP_NET_ADMIN if mode == "clsact" else 0
    mon = start_monitor(t, *args)
    assert "(%s)" % mode in mon.stderr(), mon.stderr()
    if kept:
        assert "running as user nobody with CAP_NET_ADMIN permitted for " \
            "clsact filters, none effective" in mon.stderr(), mon.stderr()
    else:
        assert "running as user nobody without capabilities" \
            in mon.stderr(), mon.stderr()
    assert "clsact filters cannot be removed" not in mon.stderr()
    _assert_caps(mon.proc.pid, kept)
    peer = t.peer4[0]

    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        want = list(e2e.udp_send(t.pns, peer, t.MON4, PORT,
                                 [100 + i for i in range(200)]))
    finally:
        sink.close()
    assert _state(mon, t) == (1, 0)

    for appearance in (1, 2):
        e2e.nsx(t.mns, "ip", "link", "del", t.mif)
        assert _wait_for(lambda: mon.stderr().count("disappeared") ==
                         appearance, 5) is not None, mon.stderr()
        assert _wait_for(lambda: _state(mon, t) == (0, appearance - 1), 5) \
            is not None
        e2e.recreate_veth(t)
        assert _wait_for(lambda: mon.stderr().count(
            "is back: attached again (%s)" % mode) == appearance, 5) \
            is not None, mon.stderr()
        assert _wait_for(lambda: _state(mon, t) == (1, appearance), 5) \
            is not None
        if mode == "tcx":
            progs = t.tcx_programs()
            assert len(progs["ingress"]) == 1, progs
            assert len(progs["egress"]) == 1, progs
        else:
            assert "1749" in t.tc_filters()
        # Back to nothing effective in every thread right after.
        _assert_caps(mon.proc.pid, kept)

        sink = e2e.Sinks(t.mns, [t.MON4], PORT)
        try:
            got = e2e.udp_send(t.pns, peer, t.MON4, PORT,
                               [50 * appearance + i for i in range(300)])
        finally:
            sink.close()
        want[0] += got[0]
        want[1] += got[1]
        t.wait_quiet(quiet_for=0.3)
        m = mon.scrape().per_ip()[peer]
        assert (m["rx_bytes"], m["rx_packets"]) == tuple(want), (m, want)
        assert m["tx_packets"] == 0
    assert "is back but" not in mon.stderr(), mon.stderr()
    assert "error" not in mon.stderr(), mon.stderr()
    assert mon.stop() == 0, mon.stderr()
    # Removed on exit: tcx links with their pins, clsact filters by
    # netlink with CAP_NET_ADMIN raised for that moment.
    assert t.tcx_programs() == {"ingress": [], "egress": []}
    assert "1749" not in t.tc_filters()


@pytest.fixture
def nobody_dir():
    """A directory the user nobody owns (pytest's tmp_path is private to
    root), for a database the dropped daemon writes."""
    d = tempfile.mkdtemp(prefix="itm-churn-db-")
    os.chmod(d, 0o755)
    nobody = pwd.getpwnam("nobody")
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _send_counted(t, sizes):
    sink = e2e.Sinks(t.mns, [t.MON4], PORT)
    try:
        return e2e.udp_send(t.pns, t.peer4[0], t.MON4, PORT, sizes)
    finally:
        sink.close()


@pytest.mark.parametrize("mode", ["tcx", "clsact"])
def test_reattached_then_kept_attached_under_user(topo, start_monitor,
                                                  nobody_dir, mode):
    """The shipped service's flags plus --reattach: --user nobody
    --keep-attached --db.  The veth is deleted and created again (the
    programs attached again by the unprivileged daemon), the daemon stops
    with SIGTERM, traffic flows while no daemon runs, a second run
    continues.  Every datagram of all four phases is counted, exactly: the
    re-attached links are pinned through the pin directory's descriptor
    (the path crosses a bpffs the user cannot search), so they stay."""
    t = topo
    db = os.path.join(nobody_dir, "traffic.db")
    args = ["-s", "0.2", "--user", "nobody", "--reattach",
            "--keep-attached", "--db", db] + (
        ["--clsact"] if mode == "clsact" else [])
    mon = start_monitor(t, *args)
    want = list(_send_counted(t, [100 + i for i in range(300)]))
    e2e.nsx(t.mns, "ip", "link", "del", t.mif)
    assert _wait_for(lambda: "disappeared" in mon.stderr(), 5) is not None
    e2e.recreate_veth(t)
    assert _wait_for(lambda: "is back: attached again (%s)" % mode in
                     mon.stderr(), 5) is not None, mon.stderr()
    for phase, sizes in enumerate(([200 + i for i in range(300)],
                                   [300 + i for i in range(300)],
                                   [400 + i for i in range(300)])):
        if phase == 1:
            t.wait_quiet(quiet_for=0.3)
            assert mon.stop() == 0, mon.stderr()
            assert "cannot pin" not in mon.stderr(), mon.stderr()
            assert "left attached and counting" in mon.stderr(), \
                mon.stderr()
            # Still counting with no daemon running.
            assert len(t.attached_programs()) == 2, t.attached_programs()
        if phase == 2:
            mon = start_monitor(t, *args)
        got = _send_counted(t, sizes)
        want[0] += got[0]
        want[1] += got[1]
    t.wait_quiet(quiet_for=0.3)
    m = mon.scrape().per_ip()[t.peer4[0]]
    assert (m["rx_bytes"], m["rx_packets"]) == tuple(want), (m, want)
    assert want[1] == 1200
    assert mon.stop() == 0, mon.stderr()
    assert "warning" not in mon.stderr(), mon.stderr()
