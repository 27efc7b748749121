# SPDX-License-Identifier: MIT
"""Fixtures for the end-to-end tests: namespaces, the monitor, bpffs pins.

Every fixture removes what it created in a finalizer, so a failing test
leaves nothing behind and the suite can run twice in a row.  Namespaces
left over by a run that was itself killed are removed at session start.
"""

import itertools
import os

import pytest

import itm_e2e as e2e

_seq = itertools.count(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavy traffic tests")


@pytest.fixture(scope="session")
def itm_bin():
    path = os.path.abspath(e2e.default_bin())
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests need root (network namespaces, "
                    "BPF)")
    if not os.access(path, os.X_OK):
        pytest.fail("monitor binary %s not found: build it with "
                    "`meson setup build && ninja -C build` or set ITM_BIN"
                    % path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_hygiene():
    e2e.reap_stale_namespaces()
    yield


@pytest.fixture(scope="session")
def bpffs():
    return e2e.bpffs_root()


def _make_topo(request, **kw):
    t = e2e.Topology(**kw)
    request.addfinalizer(t.teardown)
    return t.setup()


@pytest.fixture
def topo(request):
    """Offloads off (every skb is a wire packet), static neighbours."""
    return _make_topo(request)


@pytest.fixture
def topo_offload(request):
    """TSO/GSO left on: for the GSO test."""
    return _make_topo(request, offload=True)


@pytest.fixture
def topo_arp(request):
    """No static neighbours: ARP/ND happen and show as non-IP traffic."""
    return _make_topo(request, static_neigh=False)


@pytest.fixture
def pin_base(request, bpffs):
    """A private --pin-dir on bpffs, removed afterwards."""
    path = os.path.join(bpffs, "itm_e2e_%d_%d" % (os.getpid(), next(_seq)))
    request.addfinalizer(lambda: e2e.remove_tree(path))
    return path


@pytest.fixture
def start_monitor(request, itm_bin, pin_base, tmp_path):
    """Factory: start_monitor(topo, *args, wait=True, duration='0', ...)

    Defaults: -d 0 (until signalled), --quiet, -t 0, -p 9877, the test's
    private pin dir.  Every monitor started is killed at teardown."""
    started = []

    def factory(topo, *args, wait=True, duration="0", threshold="0",
                quiet=True, port=9877, pin=None, ifaces=None,
                netns_exec=False):
        a = []
        if duration is not None:
            a += ["-d", str(duration)]
        if threshold is not None:
            a += ["-t", str(threshold)]
        if quiet:
            a.append("--quiet")
        a += list(args)
        m = e2e.Monitor(itm_bin, topo, pin or pin_base, a, port=port,
                        ifaces=ifaces, tmpdir=str(tmp_path),
                        netns_exec=netns_exec)
        started.append(m)
        return m.start(wait=wait)

    def cleanup():
        for m in started:
            m.close()

    request.addfinalizer(cleanup)
    return factory
