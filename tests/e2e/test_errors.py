# SPDX-License-Identifier: MIT
"""Bad input: one line on stderr, exit status 2, nothing left attached.
Every run happens inside a test namespace, so even a wrong attach could
not touch the host."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import itm_e2e as e2e

from test_geo import _fixtures as _geo_fixtures
from test_geo import _labels as _geo_labels
from test_geo import _send as _geo_send
from test_lifecycle import assert_nothing_attached


def run_in(t, itm_bin, pin_base, *args, timeout=20):
    p = subprocess.run(["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin,
                        "--pin-dir", pin_base, *args],
                       capture_output=True, text=True, timeout=timeout)
    return p


def assert_one_line_exit2(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, "want one stderr line, got: %r" % p.stderr


def test_missing_interface(topo, itm_bin, pin_base):
    p = run_in(topo, itm_bin, pin_base, "-i", "nosuch0", "-d", "1")
    assert_one_line_exit2(p)
    assert "nosuch0" in p.stderr
    assert_nothing_attached(topo, pin_base)


def test_missing_second_interface_attaches_nothing(topo, itm_bin, pin_base):
    p = run_in(topo, itm_bin, pin_base, "-i", "%s,nosuch1" % topo.mif,
               "-d", "1")
    assert_one_line_exit2(p)
    assert "nosuch1" in p.stderr
    assert_nothing_attached(topo, pin_base)


def test_no_interface_flag(topo, itm_bin, pin_base):
    p = run_in(topo, itm_bin, pin_base, "-d", "1")
    assert_one_line_exit2(p)


@pytest.mark.parametrize("args", [
    ["-s", "0"], ["-s", "-1"], ["-s", "abc"], ["-t", "abc"], ["-t", "-5"],
    ["-p", "70000"], ["-p", "0"], ["-p", "http"], ["-d", "x"], ["-d", "-1"],
    ["--map-size", "0"], ["--map-size", "lots"], ["-p", "9879", "--listen", "not-an-ip"],
    ["--no-such-flag"],
], ids=lambda a: " ".join(a))
def test_bad_flag_values(topo, itm_bin, pin_base, args):
    p = run_in(topo, itm_bin, pin_base, "-i", topo.mif, "-d", "1", *args)
    assert_one_line_exit2(p)
    assert_nothing_attached(topo, pin_base)


@pytest.mark.parametrize("fmt", ["%s,,", "%s,", ",%s", "%s,,itm0p"],
                         ids=["trailing-two", "trailing", "leading", "middle"])
def test_empty_interface_in_list(topo, itm_bin, pin_base, fmt):
    """-i 'vA,,' names no interface twice: refused before anything is
    attached, with the list quoted in one line."""
    arg = fmt % topo.mif
    p = run_in(topo, itm_bin, pin_base, "-i", arg, "-d", "1")
    assert_one_line_exit2(p)
    assert "'%s'" % arg in p.stderr, p.stderr
    assert_nothing_attached(topo, pin_base)


def test_port_in_use(topo, itm_bin, pin_base):
    t = topo
    s = e2e.ns_socket(t.mns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("0.0.0.0", 9878))
        s.listen(1)
        p = run_in(t, itm_bin, pin_base, "-i", t.mif, "-d", "5", "-p", "9878")
    finally:
        s.close()
    assert_one_line_exit2(p)
    assert "9878" in p.stderr
    assert_nothing_attached(t, pin_base)


def test_help_exits_zero(itm_bin):
    p = subprocess.run([itm_bin, "--help"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0
    for flag in ("--iface", "--duration", "--sample-interval",
                 "--prometheus-port", "--prometheus-export-threshold",
                 "--map-size", "--pin-dir", "--clsact", "--listen",
                 "--no-tui", "--live-socket", "--live-group"):
        assert flag in p.stdout, flag


def test_pin_dir_default_is_not_touched_by_custom(topo, itm_bin, pin_base):
    """A run with --pin-dir never creates the default directory's iface
    entry (sanity of the option)."""
    default = os.path.join(e2e.bpffs_root(), "ip_traffic_monitor",
                           topo.instance())
    p = run_in(topo, itm_bin, pin_base, "-i", topo.mif, "-d", "1",
               "--quiet", "--no-summary")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(default)


def test_lock_file_removed_second_instance_refused(topo, itm_bin, pin_base,
                                                   start_monitor):
    """Deleting the lock file does not let a second instance take over:
    the pin directory itself is locked.  The first keeps its pins and
    keeps counting."""
    t = topo
    mon = start_monitor(t, "-s", "0.2")
    lock = os.path.join(e2e.LOCK_DIR, t.instance() + ".lock")
    assert os.path.exists(lock)
    os.unlink(lock)
    pins = sorted(os.listdir(os.path.join(pin_base, t.instance())))
    p = run_in(t, itm_bin, pin_base, "-i", t.mif, "-d", "1")
    assert_one_line_exit2(p)
    assert "already monitored" in p.stderr
    assert sorted(os.listdir(os.path.join(pin_base, t.instance()))) == pins
    sink = e2e.Sinks(t.mns, [t.MON4], 5021)
    try:
        sent = e2e.udp_send(t.pns, t.peer4[0], t.MON4, 5021, [300] * 20)
    finally:
        sink.close()
    got = mon.scrape().per_ip()[t.peer4[0]]
    assert (got["rx_bytes"], got["rx_packets"]) == sent


@pytest.mark.parametrize("args,shown", [
    (["-s", "0x10"], "'0x10'"),
    (["-s", "1e1"], "'1e1'"),
    (["-i", "a\nb"], "a\\nb"),
    (["-t", "x" * 10000], "x" * 64 + "..."),
    (["-g", ""], "-g/--geoip-db wants a"),
], ids=["hex", "exponent", "newline", "long", "empty-g"])
def test_messages_quote_user_strings(topo, itm_bin, pin_base, args, shown):
    p = run_in(topo, itm_bin, pin_base, "-i", topo.mif, "-d", "1", *args)
    assert_one_line_exit2(p)
    assert shown in p.stderr, p.stderr
    assert len(p.stderr) < 400, len(p.stderr)


def _possible_cpus():
    n = 0
    with open("/sys/devices/system/cpu/possible") as f:
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
    return n


def test_map_size_beyond_a_share_of_ram(topo, itm_bin, pin_base):
    """--map-size 16777216 (the largest accepted value) needs 5 GiB of
    kernel memory on 2 CPUs: refused, with the estimate, where that is
    more than an eighth of the RAM; started where it is not."""
    with open("/proc/meminfo") as f:
        ram = int(f.readline().split()[1]) * 1024
    n = 1 << 24
    need = n * 2 * (96 + 32 * _possible_cpus())
    p = run_in(topo, itm_bin, pin_base, "-i", topo.mif, "-d", "1",
               "--map-size", str(n), timeout=120)
    if need > ram // 8:
        assert_one_line_exit2(p)
        assert "GiB of kernel memory" in p.stderr, p.stderr
        assert "%.1f GiB" % (need / 2**30) in p.stderr, p.stderr
    else:
        assert p.returncode == 0, p.stderr
    assert_nothing_attached(topo, pin_base)


# ---- paths that name a FIFO (or another non-regular file) -------------
# A FIFO without a writer blocks a plain open(2) for reading: the start
# hung with no output and nothing attached.  Every path the daemon or a
# subcommand reads is refused at once instead, in one line.

FIFO_WANT = "is a FIFO, not a regular file"


def _fifo_case(tmp_path, case):
    """(extra daemon arguments, the path the message must name)."""
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    if case in ("cert_file", "key_file", "client_ca_file"):
        for name in ("server.crt", "server.key", "ca.crt"):
            (tmp_path / name).write_text("regular, never parsed\n")
        files = {"cert_file": "server.crt", "key_file": "server.key",
                 "client_ca_file": "ca.crt"}
        files[case] = "fifo"  # relative to the configuration's directory
        cfg = tmp_path / "web.yml"
        cfg.write_text("tls_server_config:\n"
                       "  cert_file: %(cert_file)s\n"
                       "  key_file: %(key_file)s\n"
                       "  client_auth_type: RequireAndVerifyClientCert\n"
                       "  client_ca_file: %(client_ca_file)s\n" % files)
        return ["-p", "9883", "--web.config.file", str(cfg)], fifo
    flag = {"web.config.file": ["-p", "9883", "--web.config.file"],
            "geoip-db": ["-g"], "isp-db": ["--isp-db"], "db": ["--db"]}[case]
    return flag + [fifo], fifo


@pytest.mark.parametrize("case", ["web.config.file", "cert_file", "key_file",
                                  "client_ca_file", "geoip-db", "isp-db",
                                  "db"])
def test_fifo_path_refused_at_once(topo, itm_bin, pin_base, tmp_path, case):
    args, fifo = _fifo_case(tmp_path, case)
    t0 = time.monotonic()
    p = run_in(topo, itm_bin, pin_base, "-i", topo.mif, "-d", "1", *args)
    took = time.monotonic() - t0
    assert_one_line_exit2(p)
    assert fifo in p.stderr and FIFO_WANT in p.stderr, p.stderr
    assert took < 5, took
    assert_nothing_attached(topo, pin_base)


@pytest.mark.parametrize("argv", [
    ["query", "--db", "FIFO", "top"],
    ["query", "--db", "FIFO", "SELECT 1"],
    ["lookup", "-g", "FIFO", "192.0.2.1"],
    ["lookup", "--isp-db", "FIFO", "192.0.2.1"],
], ids=lambda a: " ".join(a[:2]))
def test_fifo_path_refused_by_subcommands(itm_bin, tmp_path, argv):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    p = subprocess.run([itm_bin] + [fifo if a == "FIFO" else a
                                    for a in argv],
                       capture_output=True, text=True, timeout=20)
    assert time.monotonic() - t0 < 5
    assert_one_line_exit2(p)
    assert fifo in p.stderr and FIFO_WANT in p.stderr, p.stderr


def _wait_count(mon, text, n, timeout=10):
    deadline = time.monotonic() + timeout
    while mon.stderr().count(text) < n:
        assert time.monotonic() < deadline, (text, n, mon.stderr())
        time.sleep(0.05)


def test_fifo_at_reload_keeps_the_old_data(topo, start_monitor, tmp_path):
    """A geography database replaced by a FIFO while running: the change
    on disk gives one warning (not one per interval), a SIGHUP one more;
    the old data stays in use, the daemon keeps draining and answering,
    and the regular file renamed back is reopened.  Three rounds, each
    with an address first seen while the FIFO is in place."""
    t = topo
    fx = _geo_fixtures(tmp_path)
    live = tmp_path / "city.mmdb"
    shutil.copyfile(fx / "city1.mmdb", live)
    a = t.peer4[0]
    # first seen during rounds 0, 1, 2; city1 names the first two and
    # not the third (a private address: the built-in name)
    new = [(t.peer4[1], {"country": "中国", "province": "广东省",
                         "city": "深圳市", "isp": "Unknown",
                         "asn": "Unknown"}),
           (t.peer6[0], {"country": "中国", "province": "北京市",
                         "city": "北京市", "isp": "Unknown",
                         "asn": "Unknown"}),
           (t.peer4[2], {"country": "局域网", "province": "Unknown",
                         "city": "Unknown", "isp": "Unknown",
                         "asn": "Unknown"})]
    truth = {}
    sinks = e2e.Sinks(t.pns, t.peers, 5001)
    try:
        mon = start_monitor(t, "-s", "0.2", "-g", str(live))
        _geo_send(t, a, [100, 200], truth)
        before = _geo_labels(mon.scrape(), a)
        for r, (peer, want) in enumerate(new):
            tmp = str(live) + ".new"
            os.mkfifo(tmp)
            os.rename(tmp, live)
            _wait_count(mon, FIFO_WANT, 2 * r + 1)  # seen on disk
            time.sleep(1.0)  # five intervals: not repeated
            assert mon.stderr().count(FIFO_WANT) == 2 * r + 1, mon.stderr()
            _geo_send(t, peer, [300 + r], truth)
            m = mon.scrape()
            assert _geo_labels(m, peer) == want
            assert _geo_labels(m, a) == before
            os.kill(mon.proc.pid, signal.SIGHUP)
            _wait_count(mon, "reload: reopened 0 of 1 databases", r + 1)
            assert mon.stderr().count(FIFO_WANT) == 2 * r + 2, mon.stderr()
            shutil.copyfile(fx / "city1.mmdb", tmp)
            os.rename(tmp, live)
            _wait_count(mon, "(changed on disk)", r + 1)
        m = mon.scrape()
        err = mon.stderr()
    finally:
        sinks.close()
    fifo_lines = [ln for ln in err.splitlines() if FIFO_WANT in ln]
    assert len(fifo_lines) == 6, err
    assert all("keeping the old data" in ln and str(live) in ln
               for ln in fifo_lines), err
    got = m.per_ip()
    for peer, want in truth.items():
        assert got[peer]["tx_bytes"] == want["tx_bytes"], peer
        assert got[peer]["tx_packets"] == want["tx_packets"], peer
