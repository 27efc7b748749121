# SPDX-License-Identifier: MIT
"""The full-screen live view, run by hand on a terminal: the monitor runs on
a pseudo-terminal, its screen is read back with a terminal emulator (pyte),
and what a person would read there is checked against traffic we sent:
cumulative bytes exactly, rates within the interval's rounding, places and
processes; then the keys (sort, filter, views, pause, quit) and a resize.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time


import itm_e2e as e2e
from tty import Terminal, parse_rate, table

PORT = 5077
HERE = os.path.dirname(os.path.abspath(__file__))


def geo_fixtures(tmp_path):
    d = tmp_path / "geo"
    d.mkdir()
    subprocess.run(["perl", os.path.join(HERE, "fixtures", "mkgeo.pl"),
                    str(d)], check=True)
    return d


def monitor_on_terminal(request, t, argv, cols, rows):
    """The monitor on a pseudo-terminal, killed and its lock file removed
    at teardown."""
    term = Terminal(["nsenter", "--net=/run/netns/%s" % t.mns] + argv,
                    cols=cols, rows=rows)

    def fin():
        term.close()
        lock = os.path.join(e2e.LOCK_DIR, t.instance() + ".lock")
        if os.path.exists(lock):
            os.unlink(lock)

    request.addfinalizer(fin)
    return term


def run_tui(request, itm_bin, t, pin_base, *args, cols=200, rows=30):
    argv = [itm_bin, "-i", t.mif, "-d", "0", "-s", "1", "-t", "0",
            "--pin-dir", pin_base]
    term = monitor_on_terminal(request, t, argv + list(args), cols, rows)
    term.wait_for(lambda l: table(l, "ADDRESS") is not None,
                  what="the live view")
    return term


def rows_by(lines, key="ADDRESS"):
    rows = table(lines, key) or []
    return {r[key]: r for r in rows}


def uptime(lines):
    m = re.search(r" up (?:(\d+)m)?(\d+)s", lines[0])
    assert m, "no uptime in %r" % lines[0]
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def udp_child(gate, src, dst, port, sizes):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, 0))
    (gate or _NoGate).wait_go()
    b = 0
    for n in sizes:
        assert s.sendto(b"t" * n, (dst, port)) == n
        b += n + e2e.ip_overhead(dst)
    s.close()
    return b


def udp_children(gate, jobs):
    gate.wait_go()
    return [udp_child(None, *j) for j in jobs]


class _NoGate:
    @staticmethod
    def wait_go():
        pass


def send_named(t, name, dst, sizes):
    """UDP from a child process called `name` in the monitor namespace."""
    return send_many(t, name, [(dst, sizes)])[0]


def send_many(t, name, jobs):
    """One child process `name` sends to each (dst, sizes) of jobs."""
    c = e2e.Forked(t.mns, udp_children,
                   [(t.mon_addr_for(d), d, PORT, sz) for d, sz in jobs],
                   name=name, gated=True)
    c.go()
    return c.wait()


def assert_rate(text, expect, span_lo, span_hi, what):
    """A displayed rate of `expect` bytes spread over a window known to
    lie between span_lo and span_hi seconds (3 significant digits)."""
    v, half = parse_rate(text)
    lo, hi = expect / span_hi, expect / span_lo
    assert lo - half <= v <= hi + half, (
        "%s: shown %s (%.0f B/s), expected %.0f..%.0f B/s" %
        (what, text, v, lo, hi))


def test_rows_rates_and_labels(request, topo, itm_bin, pin_base, tmp_path):
    t = topo
    fx = geo_fixtures(tmp_path)
    a4, b4, a6 = t.peer4[0], t.peer4[1], t.peer6[0]
    sinks = e2e.Sinks(t.pns, [a4, a6], PORT)
    msink = e2e.Sinks(t.mns, [t.MON4], PORT)
    request.addfinalizer(sinks.close)
    request.addfinalizer(msink.close)
    term = run_tui(request, itm_bin, t, pin_base, "-g",
                   str(fx / "city1.mmdb"), "--isp-db", str(fx / "isp.mmdb"))

    tx_a4 = send_named(t, "tuisend", a4, [1000] * 200)
    tx_a6 = send_named(t, "tuisend6", a6, [700] * 50)
    rx_b4, _ = e2e.udp_send(t.pns, b4, t.MON4, PORT, [1200] * 30)
    # Watch the screen until every counter is in, and two updates more.
    seen = {a4: [], a6: [], b4: []}
    done_at = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = term.lines()
        rows = rows_by(lines)
        for ip in seen:
            if ip in rows:
                seen[ip].append(rows[ip])
        complete = (a4 in rows and int(rows[a4]["TX BYTES"]) == tx_a4 and
                    a6 in rows and int(rows[a6]["TX BYTES"]) == tx_a6 and
                    b4 in rows and int(rows[b4]["RX BYTES"]) == rx_b4)
        if complete and done_at is None:
            done_at = time.monotonic()
        if done_at and time.monotonic() - done_at > 2.5:
            break
        time.sleep(0.05)
    assert done_at, "exact totals never shown:\n%s" % term.text()
    lines = term.lines()
    rows = rows_by(lines)

    # Cumulative bytes, exactly; nothing else was sent.
    assert int(rows[a4]["TX BYTES"]) == tx_a4
    assert int(rows[a4]["RX BYTES"]) == 0
    assert int(rows[a6]["TX BYTES"]) == tx_a6
    assert int(rows[b4]["RX BYTES"]) == rx_b4
    assert int(rows[b4]["TX BYTES"]) == 0
    tot = re.search(r"TOTAL TX (\d+) B  RX (\d+) B", lines[1])
    assert tot and int(tot.group(1)) == tx_a4 + tx_a6
    assert int(tot.group(2)) == rx_b4

    # Places and carriers in Chinese, processes by name.
    assert rows[a4]["COUNTRY"] == "中国"
    assert rows[a4]["PROVINCE"] == "江苏省"
    assert rows[a4]["CITY"] == "南京市"
    assert rows[a4]["ISP"] == "中国电信"
    assert rows[a6]["CITY"] == "北京市"
    assert rows[b4]["CITY"] == "深圳市"
    assert rows[b4]["ISP"] == "中国移动"
    # The asn label (wider than its column's 24 cells: cut with '~').
    assert rows[a4]["ASN"] == "AS4134 CHINANET-BACKBONE"
    assert rows[b4]["ASN"].startswith("AS9808 China Mobile"), rows[b4]
    assert rows[b4]["ASN"].endswith("~"), rows[b4]
    assert rows[a6]["ASN"] == "Unknown"
    assert rows[a4]["PROCESS"].startswith("tuisend["), rows[a4]
    assert rows[a6]["PROCESS"].startswith("tuisend6["), rows[a6]
    # Wide names are aligned: every column starts in the same cell.
    hdr = [l for l in lines if l.startswith("ADDRESS")][0]
    isp_col = hdr.index("ISP")
    from tty import _cells
    for ip in (a4, b4):
        line = [l for l in lines if l.startswith(ip + " ")][0]
        assert "".join(_cells(line)[isp_col:]).startswith("中国"), line

    # Rates.  Every burst took a few ms, so it lies in one or two update
    # intervals (1 s each, longer on a loaded machine): the last-interval
    # rate peaked at B/1..B/2, and the 2 s window (1.5..2.5 intervals)
    # (or the time since the start, when shorter) held all of it once.
    up = uptime(lines)
    assert up >= 3, lines[0]
    for ip, b, d in ((a4, tx_a4, "TX"), (a6, tx_a6, "TX"), (b4, rx_b4, "RX")):
        peak = max(parse_rate(r[d + "/s"])[0] for r in seen[ip])
        assert b / 3.5 <= peak <= b / 0.7, (ip, peak, b)
        peak2 = max(parse_rate(r[d + " 2s"])[0] for r in seen[ip])
        assert b / 4.5 <= peak2 <= b / 0.7, (ip, peak2, b)
        # The burst is over: the last interval shows nothing any more.
        assert rows[ip][d + "/s"] == "0", rows[ip]
        # Windows longer than the run so far average since the start:
        # the uptime, within a second either way (whole seconds shown).
        for w in (10, 40):
            if up + 1.2 < w:
                assert_rate(rows[ip]["%s %ds" % (d, w)], b, up - 1.2,
                            up + 1.2, "%s %s %ds" % (ip, d, w))


def test_keys_resize_and_quit(request, topo, itm_bin, pin_base, tmp_path):
    t = topo
    fx = geo_fixtures(tmp_path)
    a4, c4, a6 = t.peer4[0], t.peer4[2], t.peer6[0]
    sinks = e2e.Sinks(t.pns, [a4, c4, a6], PORT)
    request.addfinalizer(sinks.close)
    term = run_tui(request, itm_bin, t, pin_base, "-g",
                   str(fx / "city1.mmdb"), "--isp-db", str(fx / "isp.mmdb"),
                   cols=160, rows=24)
    alpha = send_many(t, "alpha", [(a4, [100] * 10), (a6, [500] * 10)])
    truth = {a4: alpha[0], c4: send_named(t, "beta", c4, [1000] * 40),
             a6: alpha[1]}

    def shows_all(lines):
        r = rows_by(lines)
        return all(ip in r and int(r[ip]["TX BYTES"]) == b
                   for ip, b in truth.items()) and r

    term.wait_for(shows_all, what="exact totals")

    def order(lines):
        return [r["ADDRESS"] for r in table(lines, "ADDRESS")]

    # Default order: total bytes, largest first.
    assert order(term.lines()) == [c4, a6, a4]
    # Sort by columns: step right until TX BYTES is the sort column.
    for _ in range(12):
        if "sort: TX BYTES" in term.lines()[2]:
            break
        term.send(">")
        time.sleep(0.15)
    term.wait_for(lambda l: "sort: TX BYTES" in l[2], what="sort TX BYTES")
    assert "TX BYTES*" in [l for l in term.lines()
                           if l.startswith("ADDRESS")][0]
    assert order(term.lines()) == [c4, a6, a4]
    term.send("r")
    term.wait_for(lambda l: order(l) == [a4, a6, c4], what="reversed order")
    term.send("<")  # RX 40s: all zero, ties by address
    term.wait_for(lambda l: "sort: RX 40s" in l[2], what="sort RX 40s")
    term.send("rt")
    term.wait_for(lambda l: "sort: total bytes" in l[2] and
                  order(l) == [c4, a6, a4], what="sort total")

    # Filters: address prefix, CIDR, country (none here but 中国), process.
    term.send("/10.77.0.1\r")
    term.wait_for(lambda l: order(l) == [c4, a4], what="prefix filter")
    term.send("/\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7ffd77::/64\r")
    term.wait_for(lambda l: order(l) == [a6], what="CIDR filter")
    term.send("x")
    term.wait_for(lambda l: len(order(l)) == 3, what="cleared filter")
    term.send("c中国\r")  # only a4 and a6 are in the database
    term.wait_for(lambda l: order(l) == [a6, a4], what="country filter")
    term.send("xa4134\r")  # asn: only a4 is in AS4134
    term.wait_for(lambda l: order(l) == [a4] and "asn=4134" in l[2],
                  what="asn filter")
    term.send("xaunknown\r")
    term.wait_for(lambda l: order(l) == [c4, a6], what="asn Unknown filter")
    term.send("xoalp\r")
    term.wait_for(lambda l: order(l) == [a6, a4], what="process filter")
    term.send("x/10.77.0.0/33\r")
    term.wait_for(lambda l: "not an address prefix" in l[2],
                  what="bad CIDR message")
    assert len(order(term.lines())) == 3

    # Process view: one row per process, bytes summed over its addresses.
    term.send("\t")
    procs = term.wait_for(lambda l: table(l, "PID"), what="process view")
    by_name = {r["PROCESS"]: r for r in procs}
    assert int(by_name["alpha"]["TX BYTES"]) == truth[a4] + truth[a6]
    assert int(by_name["alpha"]["ADDRS"]) == 2
    assert int(by_name["beta"]["TX BYTES"]) == truth[c4]
    term.send("v")
    term.wait_for(lambda l: table(l, "ADDRESS"), what="address view")

    # Pause freezes the screen while counting goes on.
    term.send("p")
    term.wait_for(lambda l: "[PAUSED]" in l[0], what="paused")
    more = send_named(t, "alpha", a4, [300] * 5)
    time.sleep(2.5)
    assert int(rows_by(term.lines())[a4]["TX BYTES"]) == truth[a4]
    term.send("p")
    term.wait_for(lambda l: a4 in rows_by(l) and int(
        rows_by(l)[a4]["TX BYTES"]) == truth[a4] + more, what="resumed")
    truth[a4] += more

    # Resize to 80x24: columns are dropped, nothing wraps.
    term.resize(80, 24)
    # (The emulator keeps the old lines cut at 80 cells until redrawn.)
    term.wait_for(lambda l: len(l[3]) <= 80 and l[3].startswith("ADDRESS")
                  and "PROCESS" in l[3], what="narrow layout")
    lines = term.lines()
    assert all(len(x) <= 80 for x in lines)
    r = rows_by(lines)
    assert int(r[a4]["TX BYTES"]) == truth[a4]
    assert "TX/s" in lines[3] and "PROCESS" in lines[3]
    term.resize(200, 30)
    term.wait_for(lambda l: "CITY" in l[3], what="wide layout")

    # Help, then quit: the terminal is restored and the summary printed.
    term.send("h")
    term.wait_for(lambda l: any("quit (the summary" in x for x in l),
                  what="help")
    term.send("hq")
    assert term.wait_exit(20) == 0
    out = term.output()
    summary = out[out.index("=== ip_traffic_monitor_cli summary ==="):]
    for ip, b in truth.items():
        row = [x for x in summary.splitlines() if x.split()[1:2] == [ip]]
        assert row and int(row[0].split()[2]) == b, (ip, summary)
    assert "\x1b[?1049l" in out  # left the alternate screen


def test_no_tui_table_fits_80_columns(request, topo, itm_bin, pin_base,
                                      tmp_path):
    t = topo
    fx = geo_fixtures(tmp_path)
    sinks = e2e.Sinks(t.pns, [t.peer6[0]], PORT)
    request.addfinalizer(sinks.close)
    argv = [itm_bin, "-i", t.mif, "-d", "0", "-s", "0.5", "-t", "0",
            "--pin-dir", pin_base, "--no-tui", "-g", str(fx / "city1.mmdb")]
    term = monitor_on_terminal(request, t, argv, 80, 40)
    # Attached once the first table is out.
    term.wait_for(lambda l: "elapsed" in term.output(), what="a table")
    b, _ = e2e.udp_send(t.mns, t.MON6, t.peer6[0], PORT, [1400] * 1000)
    # Printed lines, not a screen: read the raw output.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = term.output()
        if re.search(r"^%s\s.*\b%d\b" % (re.escape(t.peer6[0]), b), out,
                     re.M):
            break
        time.sleep(0.1)
    out = term.output()
    assert "\x1b[?1049h" not in out  # no full-screen mode
    assert "elapsed" in out
    table_lines = [x for x in out.splitlines() if x.startswith(
        ("ADDRESS", t.peer6[0]))]
    assert table_lines, out
    # The table's lines; log lines (a kernel's refusal quotes its
    # verifier) are the terminal's to wrap.
    assert all(len(x.rstrip("\r")) <= 80 for x in out.splitlines()
               if not x.startswith("ip_traffic_monitor_cli: ")), out
    row = [x for x in table_lines if x.startswith(t.peer6[0])][-1]
    hdr = [x for x in table_lines if x.startswith("ADDRESS")][-1]
    assert "TX BYTES" in hdr and "PROCESS" in hdr and "COUNTRY" in hdr
    assert str(b) in row.split(), row
    # UTF-8 names as they are, two cells each (the terminal's width).
    assert "中国" in row and "?" not in row, row
    from tty import _cells
    assert all(len(_cells(x.rstrip("\r"))) <= 80 for x in table_lines)
    # The final summary fits the 80 columns too, its row exact.
    term.proc.send_signal(signal.SIGINT)
    assert term.wait_exit(20) == 0
    out = term.output()
    title = "=== ip_traffic_monitor_cli summary ==="
    summary = out[out.index(title) + len(title):].strip().splitlines()
    assert summary and all(len(_cells(x.rstrip("\r"))) <= 80
                           for x in summary), summary
    row = [x.split() for x in summary if x.split()[1:2] == [t.peer6[0]]]
    assert row and int(row[0][2]) == b, summary


def test_quiet_and_not_a_terminal(topo, start_monitor):
    """Output to a file: no screen control, today's line-oriented output."""
    t = topo
    sinks = e2e.Sinks(t.pns, [t.peer4[0]], PORT)
    try:
        mon = start_monitor(t, "-s", "0.2", quiet=False)
        b, _ = e2e.udp_send(t.mns, t.MON4, t.peer4[0], PORT, [100] * 10)
        time.sleep(0.6)
        assert mon.stop() == 0
        out = mon.stdout()
        assert "\x1b" not in out
        assert "=== ip_traffic_monitor_cli summary ===" in out
        assert "elapsed" not in out  # the periodic table is for terminals
    finally:
        sinks.close()


def test_quiet_on_a_terminal(request, topo, itm_bin, pin_base):
    """--quiet on a terminal: no screen, no table, only the summary."""
    t = topo
    sinks = e2e.Sinks(t.pns, [t.peer4[1]], PORT)
    request.addfinalizer(sinks.close)
    argv = [itm_bin, "-i", t.mif, "-d", "3", "-s", "0.5", "-t", "0",
            "--pin-dir", pin_base, "--quiet"]
    term = monitor_on_terminal(request, t, argv, 100, 30)
    term.wait_for(lambda l: "monitoring" in term.output(), what="start")
    b, _ = e2e.udp_send(t.mns, t.MON4, t.peer4[1], PORT, [500] * 4)
    assert term.wait_exit(30) == 0
    out = term.output()
    assert "\x1b[?1049h" not in out and "elapsed" not in out
    summary = out[out.index("=== ip_traffic_monitor_cli summary ==="):]
    row = [x for x in summary.splitlines() if x.split()[1:2] == [t.peer4[1]]]
    assert row and int(row[0].split()[2]) == b, summary


def test_warnings_go_to_the_status_line(request, topo, itm_bin, pin_base,
                                        tmp_path):
    """A message while the screen is ours (a database release that does
    not load) shows on the status line, not over the rows, and is printed
    again once the terminal is given back."""
    t = topo
    fx = geo_fixtures(tmp_path)
    live = tmp_path / "city.mmdb"
    shutil.copyfile(fx / "city1.mmdb", live)
    sinks = e2e.Sinks(t.pns, [t.peer4[0]], PORT)
    request.addfinalizer(sinks.close)
    term = run_tui(request, itm_bin, t, pin_base, "-g", str(live), cols=160,
                   rows=20)
    b = send_named(t, "warnsend", t.peer4[0], [800] * 5)
    term.wait_for(lambda l: t.peer4[0] in rows_by(l), what="a row")
    with open(str(live) + ".new", "wb") as f:
        f.write(b"this is not a database" * 10)
    os.rename(str(live) + ".new", live)
    lines = term.wait_for(lambda l: "reload failed" in l[2] and l,
                          what="the warning on the status line")
    assert lines[3].startswith("ADDRESS")
    assert all("reload failed" not in x for i, x in enumerate(lines)
               if i != 2)
    row = rows_by(lines)[t.peer4[0]]
    assert int(row["TX BYTES"]) == b and row["CITY"] == "南京市"
    term.send("q")
    assert term.wait_exit(20) == 0
    after = term.output().split("\x1b[?1049l", 1)[1]
    assert "warning: geo: reload failed" in after, after
