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
