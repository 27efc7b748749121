# SPDX-License-Identifier: MIT
"""Every key of the live view, on a terminal emulator that renders what
ncurses sends (tty.FaithfulScreen: REP, CSI S/T), every screen measured in
display cells at 80 and 120 columns; the final summary fitted to the
terminal; reverse DNS from a hosts file the test controls; the process
view without attribution; `query`'s PRAGMA policy and `top -n 0`.

Two monitor starts: 32 peers (more rows than the screen) with names for
three of them in a private /etc/hosts (a mount namespace of the monitor's
own: the host's resolver files are never touched, and nsswitch.conf says
"files" only, so no DNS query is ever sent), then a --no-pid --db run."""

import os
import re
import subprocess
import time

import pytest

import itm_e2e as e2e
from tty import Terminal, cells, parse_rate, table

PORT = 5079
COLS80, ROWS80 = 80, 24
COLS120, ROWS120 = 120, 30
# Cursor keys as xterm sends them in keypad mode (ncurses turns it on).
UP, DOWN, HOME, END = "\x1bOA", "\x1bOB", "\x1bOH", "\x1bOF"
PGUP, PGDN = "\x1b[5~", "\x1b[6~"
# The key table h shows: every key has a line.
HELP_KEYS = ["q ", "p, space", "j/k ", "PgUp/PgDn ", "Home/End ", "< > ",
             "1 2 3 ", "s ", "t ", "r ", "b ", "n ", "/ or l ", "c ", "i ",
             "a ", "o ", "x ", "tab, v ", "h, ? "]


@pytest.fixture
def topo32(request):
    """The usual pair plus 25 more IPv4 peers: 32 remote addresses."""
    t = e2e.Topology(extra_peer4=25)
    request.addfinalizer(t.teardown)
    return t.setup()


def start(request, t, tmp_path, argv, cols, rows, names=None):
    """The monitor on a terminal; with names, in a mount namespace whose
    /etc/hosts maps them and whose nsswitch.conf has only "files"."""
    wrap = ["nsenter", "--net=/run/netns/%s" % t.mns]
    if names is not None:
        hosts = tmp_path / "hosts"
        hosts.write_text("127.0.0.1 localhost\n" + "".join(
            "%s %s\n" % kv for kv in names.items()))
        nss = tmp_path / "nsswitch.conf"
        nss.write_text("hosts: files\n")
        wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount --bind "$1" /etc/hosts && '
                'mount --bind "$2" /etc/nsswitch.conf && shift 2 && '
                'exec "$@"', "sh", str(hosts), str(nss)] + wrap
    term = Terminal(wrap + argv, cols=cols, rows=rows)

    def fin():
        term.close()
        lock = os.path.join(e2e.LOCK_DIR, t.instance() + ".lock")
        if os.path.exists(lock):
            os.unlink(lock)

    request.addfinalizer(fin)
    return term


def check_screen(term, lines=None):
    """A whole screen where it belongs, nothing wider than the terminal
    in display cells, nothing wrapped."""
    lines = lines or term.lines()
    assert len(lines) == term.rows
    assert lines[0].startswith(" ip_traffic_monitor_cli"), lines
    assert lines[1].startswith("TOTAL TX "), lines
    assert lines[3].startswith(("ADDRESS", "PID")), lines
    assert lines[-1].startswith("q quit"), lines
    assert all(cells(x) <= term.cols for x in lines), lines
    assert term.screen.wraps == 0, (term.screen.wrap_log, lines,
                                    term.output()[-1500:])
    return lines


def whole(lines):
    """A complete screen (not one half redrawn after a resize)."""
    return (lines[0].startswith(" ip_traffic_monitor_cli") and
            lines[3].startswith(("ADDRESS", "PID")) and
            lines[-1].startswith("q quit"))


def wait_screen(term, pred, what):
    """Wait for a whole screen where pred(lines), then check it."""
    return check_screen(term, term.wait_for(
        lambda l: whole(l) and pred(l) and l, what=what))


def status(lines):
    return lines[2]


def rows_of(lines):
    return table(lines, lines[3][:3]) or []


def addrs(lines):
    return [r["ADDRESS"] for r in rows_of(lines)]


def header(lines):
    return lines[3]


def send_all(t):
    """Peer i sends i+1 datagrams of 200+10i bytes to the monitor (all
    totals differ); the monitor sends to two peers.  Returns the truth."""
    truth = {}
    for i, ip in enumerate(t.peers):
        b, _ = e2e.udp_send(t.pns, ip, t.mon_addr_for(ip), PORT,
                            [200 + 10 * i] * (i + 1))
        truth[ip] = {"rx": b, "tx": 0}
    for ip in (t.peer4[0], t.peer6[0]):
        b, _ = e2e.udp_send(t.mns, t.mon_addr_for(ip), ip, PORT, [1000] * 3)
        truth[ip]["tx"] = b
    return truth


def total_order(truth):
    return sorted(truth, key=lambda ip: -(truth[ip]["rx"] +
                                          truth[ip]["tx"]))


def addr_key(ip):
    """The view's tie order: the 16-byte key (IPv4 as ::ffff:a.b.c.d)."""
    import ipaddress
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return b"\0" * 10 + b"\xff\xff" + a.packed
    return a.packed


def shows(cell, name):
    """name in a text column: whole, or cut with '~' to the column."""
    return cell == name or bool(cell and len(cell) >= 8 and
                                cell.endswith("~") and
                                name.startswith(cell[:-1]))


def summary_lines(out):
    title = "=== ip_traffic_monitor_cli summary ==="
    assert title in out, out[-3000:]
    text = out[out.index(title) + len(title):]
    return [x.rstrip("\r") for x in text.strip("\r\n").splitlines()]


def check_summary(out, truth, cols):
    """Fitted to cols display cells; the top rows and TOTAL exact."""
    lines = summary_lines(out)
    assert all(cells(x) <= cols for x in lines), "\n".join(lines)
    assert lines[0].split()[:4] == ["RANK", "REMOTE", "IP", "TX"], lines[0]
    want = total_order(truth)
    # Packet counts go before byte counts when the width is short.
    rx_at = 2 if "PKTS" in lines[0] else 1
    rows = [x.split() for x in lines[1:] if x.split()[0].isdigit()]
    assert len(rows) == 10, lines  # --top 10
    for k, r in enumerate(rows):
        assert r[0] == str(k + 1) and r[1] == want[k], (k, r)
        assert [int(r[2]), int(r[2 + rx_at])] == [truth[r[1]]["tx"],
                                                  truth[r[1]]["rx"]], r
    tot = [x.split() for x in lines if x.startswith("TOTAL")]
    assert len(tot) == 1, lines
    nums = tot[0][tot[0].index("addresses") + 1:]
    assert int(nums[0]) == sum(v["tx"] for v in truth.values())
    assert int(nums[rx_at]) == sum(v["rx"] for v in truth.values())
    return lines


def test_every_key_80_and_120_columns(request, topo32, itm_bin, pin_base,
                                      tmp_path):
    t = topo32
    sinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    psinks = e2e.Sinks(t.pns, [t.peer4[0], t.peer6[0]], PORT)
    request.addfinalizer(sinks.close)
    request.addfinalizer(psinks.close)
    # Largest, third largest and smallest total (last page).
    names = {t.peer6[1]: "big.peer.test", t.peer4[-1]: "third.peer.test",
             t.peer4[0]: "small.peer.test"}
    argv = [itm_bin, "-i", t.mif, "-d", "0", "-s", "0.5", "-t", "0",
            "--pin-dir", pin_base, "-n"]
    term = start(request, t, tmp_path, argv, COLS80, ROWS80, names)
    wait_screen(term, lambda l: l[3].startswith("ADDRESS"), "the view")
    truth = send_all(t)
    order = total_order(truth)
    room = ROWS80 - 5
    n = len(truth)
    lines = wait_screen(term, lambda l: "rows 1-%d of %d" % (room, n)
                        in status(l), "32 rows, a screenful shown")

    # Scrolling: page by page every row shows, exactly, in order.
    seen = []
    first = 0
    while True:
        lines = wait_screen(
            term, lambda l: "rows %d-%d of %d" % (first + 1, first + room, n)
            in status(l) and len(rows_of(l)) == room, "rows from %d" % first)
        for r in rows_of(lines):
            if r["ADDRESS"] not in [s["ADDRESS"] for s in seen]:
                seen.append(r)
        if first + room >= n:
            break
        term.send(PGDN)
        first = min(first + room - 1, n - room)
    assert [r["ADDRESS"] for r in seen] == order
    for r in seen:
        ip = r["ADDRESS"]
        assert int(r["RX BYTES"]) == truth[ip]["rx"], r
        assert int(r["TX BYTES"]) == truth[ip]["tx"], r
    term.send(HOME)
    wait_screen(term, lambda l: addrs(l)[:1] == order[:1], "Home")
    for keys, top in (("j", 1), (DOWN, 2), ("k", 1), (UP, 0), (END, n - room),
                      (PGUP, max(0, n - 2 * room + 1)), (HOME, 0)):
        term.send(keys)
        wait_screen(term, lambda l: addrs(l)[:1] == order[top:top + 1] and
                    "rows %d-" % (top + 1) in status(l), "scrolled to %d" % top)

    # -n: no names, however long we wait; n turns them on for the rows on
    # screen (the last page's only when it is shown), and off again.
    time.sleep(1.2)
    assert "HOST" not in header(check_screen(term))
    term.send("n")
    lines = wait_screen(term, lambda l: "HOST" in header(l) and all(
        r["HOST"] for r in rows_of(l) if r["ADDRESS"] in names),
        "host names")
    byip = {r["ADDRESS"]: r for r in rows_of(lines)}
    assert shows(byip[t.peer6[1]]["HOST"], "big.peer.test"), byip
    assert shows(byip[t.peer4[-1]]["HOST"], "third.peer.test"), byip
    assert sum(1 for r in byip.values() if r["HOST"]) == 2, byip
    term.send(END)
    lines = wait_screen(term, lambda l: any(
        r["ADDRESS"] == t.peer4[0] and shows(r.get("HOST"), "small.peer.test")
        for r in rows_of(l)), "the last page's name")
    term.send("n" + HOME)
    wait_screen(term, lambda l: "HOST" not in header(l) and
                addrs(l)[:1] == order[:1], "names off")

    # Tab then > in one read: the process view's first column, marked.
    term.send("\t>")
    wait_screen(term, lambda l: "view: processes  sort: PID" in status(l) and
                header(l).startswith("PID*"), "Tab > in one read")
    term.send("\t>")
    wait_screen(term, lambda l: "view: addresses  sort: ADDRESS" in status(l)
                and header(l).startswith("ADDRESS*"), "and back")
    term.send("t")

    # The key table, scrolled (more lines than the screen has rows).
    term.send("h")
    helps = set()
    lines = wait_screen(term, lambda l: l[4].startswith("q          quit"),
                        "help")
    for _ in range(4):
        helps.update(x.strip() for x in lines[4:-1] if x.strip())
        term.send("j")
        time.sleep(0.2)
        lines = check_screen(term)
    helps.update(x.strip() for x in lines[4:-1] if x.strip())
    assert len(helps) == 20, helps  # one line per key, all seen
    for k in HELP_KEYS:
        assert any(h.startswith(k) for h in helps), (k, helps)
    term.send("h")
    wait_screen(term, lambda l: addrs(l)[:1] == order[:1], "help closed")

    # 120 columns: the sort keys and the units.
    term.resize(COLS120, ROWS120)
    term.wait_for(lambda l: whole(l) and "RX 40s" in header(l),
                  what="120 columns")
    term.settled()
    # Once the 2 s window is empty every row ties: address order.
    term.send("1")
    by_key = sorted(truth, key=addr_key)
    wait_screen(term, lambda l: "sort: TX+RX 2s" in status(l) and
                "TX 2s*" in header(l) and "RX 2s*" in header(l) and
                addrs(l) == by_key[:ROWS120 - 5], "sort 1, idle")
    term.send("2")
    wait_screen(term, lambda l: "sort: TX+RX 10s" in status(l) and
                "TX 10s*" in header(l) and "RX 10s*" in header(l), "sort 2")
    term.send("3")
    lines = wait_screen(term, lambda l: "sort: TX+RX 40s" in status(l) and
                        "RX 40s*" in header(l), "sort 3")
    up = int(re.search(r" up (\d+)s", lines[0]).group(1))
    if up < 38:  # every byte in the 40 s window: the totals' order
        assert addrs(lines) == order[:ROWS120 - 5], lines
    term.send("s")
    wait_screen(term, lambda l: "sort: TX/s" in status(l) and
                "TX/s*" in header(l), "sort s")
    term.send("t")
    wait_screen(term, lambda l: addrs(l) == order[:ROWS120 - 5], "sort t")
    term.send("r")
    wait_screen(term, lambda l: "(reversed)" in status(l) and
                addrs(l) == order[::-1][:ROWS120 - 5], "reversed")
    term.send("r")

    # b: rates in bits (SI), the same rate within a refresh's drift.
    lines = wait_screen(term, lambda l: addrs(l) == order[:ROWS120 - 5] and
                        "bytes/s" in status(l), "bytes")
    before = parse_rate(rows_of(lines)[0]["RX 40s"])[0]
    term.send("b")
    lines = wait_screen(term, lambda l: "bits/s" in status(l), "bits")
    r0 = rows_of(lines)[0]
    for col in ("TX/s", "RX/s", "TX 2s", "RX 2s", "TX 10s", "RX 10s",
                "TX 40s", "RX 40s"):
        assert r0[col] == "0" or r0[col].endswith("b"), r0
    after = parse_rate(r0["RX 40s"])[0]
    assert before > 0 and abs(after - before) <= 0.2 * before, (before,
                                                                 after)
    term.send("b")
    wait_screen(term, lambda l: "bytes/s" in status(l), "bytes again")

    # Back to 80 columns, then q: the summary fits them.
    term.resize(COLS80, ROWS80)
    term.wait_for(lambda l: whole(l) and "RX 40s" not in header(l) and
                  len(l) == ROWS80, what="80 columns again")
    term.settled()
    check_screen(term)
    term.send("q")
    assert term.wait_exit(20) == 0
    out = term.output()
    assert term.screen.wraps == 0, out[-4000:]
    check_summary(out.split("\x1b[?1049l", 1)[1], truth, COLS80)


def test_no_attribution_summary_120_and_query(request, topo32, itm_bin,
                                              pin_base, tmp_path):
    t = topo32
    sinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    psinks = e2e.Sinks(t.pns, [t.peer4[0], t.peer6[0]], PORT)
    request.addfinalizer(sinks.close)
    request.addfinalizer(psinks.close)
    db = str(tmp_path / "traffic.db")
    argv = [itm_bin, "-i", t.mif, "-d", "0", "-s", "0.5", "-t", "0",
            "--pin-dir", pin_base, "-n", "--no-pid", "--db", db]
    term = start(request, t, tmp_path, argv, COLS120, ROWS120)
    wait_screen(term, lambda l: l[3].startswith("ADDRESS"), "the view")
    truth = send_all(t)
    tx = sum(v["tx"] for v in truth.values())
    rx = sum(v["rx"] for v in truth.values())
    wait_screen(term, lambda l: "TOTAL TX %d B  RX %d B" % (tx, rx) in l[1],
                "exact totals")
    # Without attribution the process view says so, on one exact row.
    term.send("\t")
    lines = wait_screen(term, lambda l: l[3].startswith("PID") and
                        rows_of(l), "process view")
    assert "no process attribution (--no-pid)" in status(lines)
    rows = rows_of(lines)
    assert len(rows) == 1 and rows[0]["PROCESS"] == "(not attributed)", rows
    assert (int(rows[0]["TX BYTES"]), int(rows[0]["RX BYTES"])) == (tx, rx)
    assert int(rows[0]["ADDRS"]) == len(truth)
    term.send("q")
    assert term.wait_exit(20) == 0
    out = term.output()
    check_summary(out.split("\x1b[?1049l", 1)[1], truth, COLS120)
    assert term.screen.wraps == 0

    def query(*args):
        return subprocess.run([itm_bin, "query", "--db", db] + list(args),
                              capture_output=True, text=True, timeout=30)

    # Only PRAGMAs that read: one line naming the PRAGMA, status 2.
    for sql, name in (("PRAGMA writable_schema=1", "writable_schema=1"),
                      ("PRAGMA query_only=0", "query_only=0"),
                      ("pragma main.trusted_schema = 1", "trusted_schema=1"),
                      ("EXPLAIN PRAGMA user_version=7", "user_version=7")):
        p = query(sql)
        assert p.returncode == 2 and p.stdout == "", (sql, p)
        assert len(p.stderr.splitlines()) == 1, p.stderr
        assert "PRAGMA %s is refused" % name in p.stderr, p.stderr
    # The schema version, as docs/store-and-query.md gives it.
    p = query("--csv", "PRAGMA user_version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "user_version", p.stdout
    assert int(p.stdout.splitlines()[1]) >= 2, p.stdout
    p = query("--csv", "PRAGMA table_info(t_bucket)")
    assert p.returncode == 0 and "\n0,ts,INTEGER," in p.stdout, p
    # -n 0 is every address, and says so.
    p = query("top", "-n", "0")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("every remote_ip by sent+received bytes"), \
        p.stdout
    assert "top 0" not in p.stdout
    p = query("top", "-n", "0", "--csv")
    got = {f[0]: (int(f[1]), int(f[2])) for f in
           (x.split(",") for x in p.stdout.splitlines()[1:])}
    assert got == {ip: (v["tx"], v["rx"]) for ip, v in truth.items()}
