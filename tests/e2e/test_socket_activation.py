# SPDX-License-Identifier: MIT
"""Socket activation without systemd: systemd-socket-activate (from the
systemd package) binds the port, waits for the first connection and
starts the monitor with the socket in LISTEN_FDS, as the
ip_traffic_monitor.socket unit does.  The monitor serves on it, also
with the service's `-p 10749` (binding that port again would fail: it
is the socket systemd holds); that first scrape is answered, and the
counts are exact.  --web.systemd-socket without a socket: exit 2."""

import os
import time

import itm_e2e as e2e

PORT = 10749
UDP_PORT = 5008


class Activated(e2e.Monitor):
    """The monitor as the socket unit starts the service: -p PORT."""

    def __init__(self, *a, **kw):
        super().__init__(*a, port=PORT, **kw)

    def argv(self):
        return (["systemd-socket-activate", "-l", "127.0.0.1:%d" % PORT] +
                super().argv())


def _exe(pid):
    return os.path.basename(os.readlink("/proc/%d/exe" % pid))


def test_socket_activation(topo, itm_bin, pin_base, tmp_path, request):
    t = topo
    mon = Activated(itm_bin, t, pin_base, ["-d", "0", "--quiet", "-t", "0",
                                            "-s", "0.2"],
                    tmpdir=str(tmp_path))
    request.addfinalizer(mon.close)
    mon.start(wait=False)
    # Listening before the monitor runs: nothing attached yet.
    deadline = time.monotonic() + 10
    while _exe(mon.proc.pid) == "nsenter":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    assert _exe(mon.proc.pid) == "systemd-socket-activate"
    assert not t.attached_programs(), t.attached_programs()

    # The first connection starts it (same pid: exec) and is answered.
    st, _, body = e2e.http_request(t.mns, PORT, timeout=60)
    assert st == 200, mon.stderr()
    assert _exe(mon.proc.pid) == os.path.basename(itm_bin)
    assert b"ip_traffic_build_info" in body

    sinks = e2e.Sinks(t.pns, t.peers, UDP_PORT)
    truth = {}
    try:
        for peer in t.peers:
            truth[peer] = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer,
                                       UDP_PORT, [10, 1400])
        t.wait_quiet(quiet_for=0.3)
    finally:
        sinks.close()
    m = e2e.Metrics(e2e.http_request(t.mns, PORT)[2].decode())
    for peer, (b, p) in truth.items():
        assert m.exact("ip_traffic_tx_bytes_total", remote_ip=peer) == b
        assert m.exact("ip_traffic_tx_packets_total", remote_ip=peer) == p
    assert mon.stop() == 0, mon.stderr()
    err = mon.stderr()
    assert "metrics at /metrics" in err and "socket activation" in err, err


def test_systemd_socket_without_one(topo, start_monitor):
    """--web.systemd-socket outside socket activation: exit 2, one line."""
    mon = start_monitor(topo, "--web.systemd-socket", port=0, wait=False)
    assert mon.wait(30) == 2
    lines = mon.stderr().splitlines()
    assert len(lines) == 1 and "LISTEN_FDS" in lines[0], lines
    assert not topo.attached_programs()
