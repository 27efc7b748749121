# SPDX-License-Identifier: MIT
"""Process attribution without a cgroup v2 hierarchy in the daemon's view.

`ip netns exec` gives the monitor a private mount namespace with a fresh
/sys: no cgroup2 mount (and no bpffs, which the daemon mounts itself).
The daemon then mounts a private cgroup2 instance to attach its
sock_create program, so a client that is started after the monitor and
lives less than 100 ms is still attributed, byte for byte (ground truth:
a capture on the monitored veth)."""

import os
import time

import itm_e2e as e2e
from test_process import (Child, PeerTcpServer, connection_bytes,
                          proc_counts, process_name, tcp_short_client)


def test_short_client_attributed_under_ip_netns_exec(topo, start_monitor,
                                                      tmp_path):
    t = topo
    remote = t.peer4[0]
    # A long sample interval: no socket scan comes to the rescue.
    mon = start_monitor(t, "-s", "30", netns_exec=True)
    assert "private cgroup2 mount" in mon.stderr(), mon.stderr()
    # Nothing stays mounted: not in the daemon's view, not in ours.
    with open("/proc/%d/mountinfo" % mon.proc.pid) as f:
        assert "itm-cgroup2" not in f.read()
    assert not [d for d in os.listdir("/run") if d.startswith("itm-cgroup2")]

    cap = e2e.Capture(t.mns, t.mif, str(tmp_path / "short.pcap"))
    srv = PeerTcpServer(t.pns, remote, 7400, 3000, 1)
    short = Child(t.mns, "itm-short", tcp_short_client, t.MON4, remote, 7400,
                  5000)
    time.sleep(0.2)
    short.go()
    lport, secs = short.wait()
    srv.join()
    t.wait_quiet(quiet_for=0.5)
    cap.stop()
    m = mon.scrape()
    assert secs < 0.1, "short client took %.3f s" % secs

    truth = connection_bytes(str(tmp_path / "short.pcap"), [t.mmac], lport,
                             remote)
    assert truth["tx_packets"] > 0 and truth["rx_packets"] > 0
    assert process_name(m, short.pid) == "itm-short"
    assert proc_counts(m, remote, short.pid) == truth
    assert proc_counts(m, remote, 0) == e2e.empty_counts()
