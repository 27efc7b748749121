# SPDX-License-Identifier: MIT
"""`ip_traffic_monitor_cli top`: the live view of a running monitor, read
over its live socket without root.  The monitor serves the socket with a
group we choose; a user in that group sees exact counts (text and full
screen, several viewers at once), a user outside it is refused.  The users
are numeric ids without passwd entries: nothing is added to the system."""

import os
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

import itm_e2e as e2e
from test_live_view import geo_fixtures, rows_by, send_named
from tty import Terminal, table

PORT = 5078
GROUP = 61234  # the live socket's group
MEMBER = 61235  # uid (and own gid) of a user in GROUP
OUTSIDER = 61236


@pytest.fixture
def live_dir(request):
    """A world-searchable directory for the socket and a copy of the
    binary that the unprivileged users can run."""
    d = tempfile.mkdtemp(prefix="itm-live-")
    os.chmod(d, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def as_user(uid, extra_groups=()):
    return {"user": uid, "group": uid, "extra_groups": list(extra_groups)}


def run_top(binary, uid, groups, *args, timeout=30):
    return subprocess.run([binary, "top"] + list(args), capture_output=True,
                          text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin"},
                          stdin=subprocess.DEVNULL, **as_user(uid, groups))


def text_rows(out):
    """The rows of the last table `top --no-tui` printed, by address."""
    lines = out.splitlines()
    starts = [i for i, x in enumerate(lines) if x.startswith("ADDRESS")]
    assert starts, out
    return rows_by(lines[starts[-1]:])


def wait_socket(path, mon, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert mon.proc.poll() is None, mon.stderr()
        assert time.monotonic() < deadline, "no live socket: " + mon.stderr()
        time.sleep(0.05)


def test_top_for_group_members_only(request, topo, start_monitor, itm_bin,
                                    live_dir, tmp_path):
    t = topo
    fx = geo_fixtures(tmp_path)
    binary = os.path.join(live_dir, "ip_traffic_monitor_cli")
    shutil.copy(itm_bin, binary)
    os.chmod(binary, 0o755)
    sock = os.path.join(live_dir, "run", "live.sock")
    a4, a6 = t.peer4[0], t.peer6[0]
    sinks = e2e.Sinks(t.pns, [a4, a6], PORT)
    request.addfinalizer(sinks.close)
    mon = start_monitor(t, "-s", "0.5", "--live-socket", sock,
                        "--live-group", str(GROUP), "-g",
                        str(fx / "city1.mmdb"), "--isp-db",
                        str(fx / "isp.mmdb"))
    wait_socket(sock, mon)
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid, st.st_gid) == (0, GROUP)

    truth = {a4: send_named(t, "topsend", a4, [900] * 20),
             a6: send_named(t, "topsend", a6, [300] * 7)}
    time.sleep(1.2)  # two sample intervals: the rows are in the table

    # A member, on a pipe: one table per update, exact counts.
    p = run_top(binary, MEMBER, [GROUP], "--no-tui", "-n", "2", "-S", sock)
    assert p.returncode == 0, p.stderr
    rows = text_rows(p.stdout)
    for ip, b in truth.items():
        assert int(rows[ip]["TX BYTES"]) == b, (ip, p.stdout)
    assert "%s: 2 remote addresses" % t.mif in p.stdout

    # Outside the group: refused with one clear line, exit status 2.
    p = run_top(binary, OUTSIDER, [], "-S", sock)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "permission denied" in p.stderr and sock in p.stderr, p.stderr
    # It names the group to ask for (numeric here: it has no name).
    assert "group '%d'" % GROUP in p.stderr, p.stderr
    assert p.stdout == ""
    # No such socket: also one line, status 2.
    p = run_top(binary, MEMBER, [GROUP], "-S", sock + ".none")
    assert p.returncode == 2 and "no monitor is serving" in p.stderr

    # Several viewers at once, each with every update until it quits.
    # 12 frames (6 s at -s 0.5): the last comes after the second send is
    # drained even when a loaded machine takes seconds to send it.
    viewers = [subprocess.Popen(
        [binary, "top", "--no-tui", "-n", "12", "-S", sock],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin"}, **as_user(MEMBER, [GROUP]))
        for _ in range(4)]
    time.sleep(0.6)
    truth[a4] += send_named(t, "topsend", a4, [1400] * 11)
    for v in viewers:
        out, err = v.communicate(timeout=30)
        assert v.returncode == 0, err
        assert int(text_rows(out)[a4]["TX BYTES"]) == truth[a4], out

    # The full-screen view, as the member on a terminal.
    # --no-dns: names would be asked of the host's resolver (this viewer
    # runs outside the test namespaces); test_live_keys.py covers them.
    term = Terminal([binary, "top", "--no-dns", "-S", sock], cols=200,
                    rows=20,
                    env={"PATH": "/usr/bin:/bin"}, **as_user(MEMBER, [GROUP]))
    request.addfinalizer(term.close)

    def exact(lines):
        r = rows_by(lines)
        return all(ip in r and int(r[ip]["TX BYTES"]) == b
                   for ip, b in truth.items()) and r

    rows = term.wait_for(exact, what="exact counts in top")
    assert rows[a4]["CITY"] == "南京市" and rows[a4]["ISP"] == "中国电信"
    assert rows[a4]["PROCESS"].startswith("topsend[")
    lines = term.lines()
    assert "via %s" % sock in lines[0] and t.mif in lines[0]
    assert "exporter *:%d" % mon.port in lines[0]
    truth[a6] += send_named(t, "topsend", a6, [1000] * 3)
    rows = term.wait_for(exact, what="the next update in top")
    # Rates come from the daemon's own update times.
    term.wait_for(lambda l: rows_by(l)[a6]["TX/s"] != "0" or
                  rows_by(l)[a6]["TX 2s"] != "0", what="a rate")
    term.send("\t")
    procs = term.wait_for(lambda l: table(l, "PID"), what="process view")
    sender = [r for r in procs if r["PROCESS"] == "topsend"]
    assert sender and sum(int(r["TX BYTES"]) for r in sender) == sum(
        truth.values())
    term.send("q")
    assert term.wait_exit(10) == 0

    # The daemon is unaffected: its own totals are the same.
    m = mon.scrape().per_ip()
    for ip, b in truth.items():
        assert m[ip]["tx_bytes"] == b
    assert mon.stop() == 0
    assert not os.path.exists(sock)  # removed on exit


def test_live_socket_errors(topo, start_monitor, itm_bin, pin_base,
                            live_dir, bpffs):
    """Bad --live-group, a file in the way and a socket another monitor
    serves: one line, status 2, nothing left attached or removed."""
    from test_errors import assert_one_line_exit2, run_in
    from test_lifecycle import assert_nothing_attached
    t = topo
    sock = os.path.join(live_dir, "live.sock")

    p = run_in(t, itm_bin, pin_base, "-i", t.mif, "-d", "1", "--quiet",
               "--live-socket", sock, "--live-group", "no-such-group-itm")
    assert_one_line_exit2(p)
    assert "no-such-group-itm" in p.stderr
    assert_nothing_attached(t, pin_base)

    with open(sock, "w") as f:
        f.write("precious")
    p = run_in(t, itm_bin, pin_base, "-i", t.mif, "-d", "1", "--quiet",
               "--live-socket", sock)
    assert_one_line_exit2(p)
    assert "not a socket" in p.stderr
    assert open(sock).read() == "precious"
    assert_nothing_attached(t, pin_base)
    os.unlink(sock)

    # A second monitor (other interface) may not take a served socket.
    t.add_pair("itm1m", "itm1p", "10.78.0.1", "10.78.0.2")
    mon = start_monitor(t, "--live-socket", sock)
    wait_socket(sock, mon)
    pin2 = os.path.join(bpffs, "itm_e2e_top2_%d" % os.getpid())
    try:
        p = run_in(t, itm_bin, pin2, "-i", "itm1m", "-d", "1", "--quiet",
                   "--live-socket", sock)
        assert_one_line_exit2(p)
        assert "in use" in p.stderr
        assert t.attached_programs(dev="itm1m") == []
    finally:
        e2e.remove_tree(pin2)
    # The first monitor still serves it.
    p = subprocess.run([itm_bin, "top", "--no-tui", "-n", "1", "-S", sock],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert mon.stop() == 0
