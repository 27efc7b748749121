# SPDX-License-Identifier: MIT
"""Bad input: one line on stderr, exit status 2, nothing left attached.
Every run happens inside a test namespace, so even a wrong attach could
not touch the host."""

import os
import socket
import subprocess

import pytest

import itm_e2e as e2e

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
