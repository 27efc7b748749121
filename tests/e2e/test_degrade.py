# SPDX-License-Identifier: MIT
"""Graceful degradation (issue 21): when the kernel refuses an optional
part, the monitor starts anyway on the next variant down the ladder (or
without the part), logs one line naming what is lost and why, exports the
state as ip_traffic_feature, and counts every byte exactly.

Each rung is reached by having the kernel really refuse it: ITM_TEST_REFUSE
makes the loader ask for something the kernel must reject (a program of
the wrong type, a tcx link on no device, a batch operation with invalid
flags).  `check` under the same refusals reports the same variants.

Ground truth: what the generators handed to the stack (UDP) and a capture
on the monitored veth (TCP), as in test_process.py."""

import time

import pytest

import itm_e2e as e2e
from test_process import (Child, PeerTcpServer, connection_bytes,
                          proc_counts, tcp_preexisting, udp_sender)

# refused parts -> {feature: (variant, state)} that must hold, and which
# sockets are attributed: "pre" (open before the start: the scan), "new"
# (opened while running: sock_create, or the scan at the next interval).
CASES = {
    "task_file": dict(
        want={"owner_scan": ("socket_iter", "degraded"),
              "owner_sock_create": ("cgroup", "enabled"),
              "attribution": ("partial", "degraded")},
        warn="TCP and UDP socket iterators only", pre=True, new=True),
    "task_file,socket_iter": dict(
        want={"owner_scan": ("none", "unavailable"),
              "owner_sock_create": ("cgroup", "enabled"),
              "attribution": ("partial", "degraded")},
        warn="sockets open before the start are not attributed",
        pre=False, new=True),
    "sock_create": dict(
        want={"owner_sock_create": ("none", "unavailable"),
              "attribution": ("partial", "degraded")},
        warn="cgroup/sock_create is unavailable", pre=True, new="scan"),
    "task_file,socket_iter,sock_create": dict(
        want={"attribution": ("none", "unavailable"),
              "owner_scan": ("none", "unavailable"),
              "owner_sock_create": ("none", "unavailable")},
        warn="process attribution is unavailable", pre=False, new=False),
    "inline,helper": dict(
        want={"owner_read": ("none", "unavailable"),
              "attribution": ("none", "unavailable")},
        warn="refused the TC programs that read socket owners",
        pre=False, new=False),
    "tcx": dict(want={"tc_attach": ("clsact", "enabled")}, warn=None,
                pre=True, new=True),
    "batch": dict(want={"batch_drain": ("iteration", "degraded")},
                  warn=None, pre=True, new=True),
}


def feature_states(m):
    """{feature: (variant, state)} of the series whose value is 1."""
    out = {}
    for lab, v in m.all("ip_traffic_feature"):
        if v == 1:
            assert lab["feature"] not in out, lab
            out[lab["feature"]] = (lab["variant"], lab["state"])
    return out


@pytest.mark.parametrize("refuse", list(CASES))
def test_refused_part_degrades_and_counts_exactly(topo, start_monitor,
                                                  itm_bin, tmp_path,
                                                  monkeypatch, refuse):
    case = dict(CASES[refuse])
    t = topo
    monkeypatch.delenv("ITM_TEST_REFUSE_INLINE", raising=False)
    monkeypatch.delenv("ITM_TEST_REFUSE", raising=False)
    # What this kernel gives without refusals: a rung it lacks anyway
    # (Linux 5.10 has no scan at all) cannot be refused, and sockets open
    # before the start are attributed only where some scan loads.
    base = e2e.kernel_features(itm_bin, t.mns)
    base_scan = base["owner_scan"][1] in ("enabled", "degraded")
    if refuse == "task_file" and not base_scan:
        pytest.skip("this kernel loads no scan to refuse (%s)"
                    % base["owner_scan"][0])
    if case["pre"] and not base_scan:
        case["pre"] = False
    if refuse == "sock_create" and not base_scan:
        # The last owner program refused: nothing attributes.
        case = CASES["task_file,socket_iter,sock_create"]
    monkeypatch.setenv("ITM_TEST_REFUSE", refuse)
    p_pre, p_new = t.peer4[2], t.peer4[0]

    pre_srv = PeerTcpServer(t.pns, p_pre, 7100, 2222, 1)
    pre = Child(t.mns, "itm-preexist", tcp_preexisting, t.MON4, p_pre,
                7100, 33333)
    time.sleep(0.3)  # connected and idle before the monitor exists
    sinks = e2e.Sinks(t.pns, [p_new], 5001)
    mon = start_monitor(t, "-s", "0.5")
    cap = e2e.Capture(t.mns, t.mif, str(tmp_path / "deg.pcap"))
    try:
        sender = Child(t.mns, "itm-udp-new", udp_sender, t.MON4, p_new,
                       5001, [100, 200, 300, 1400] * 5)
        time.sleep(0.3)  # created and bound
        if case["new"] == "scan":
            time.sleep(1.2)  # at least one scan after the socket exists
        sender.go()
        pre.go()
        udp_tx = sender.wait()
        pre_port = pre.wait()
        pre_srv.join()
        t.wait_quiet(quiet_for=0.5)
        cap.stop()
        m = mon.scrape()
        status = mon.stop()
    finally:
        sinks.close()
    assert status == 0, mon.stderr()

    # The states the kernel's refusal must lead to, and one line of log.
    states = feature_states(m)
    for feature, want in case["want"].items():
        assert states.get(feature) == want, (feature, states)
    assert states["tc_attach"][1] == "enabled"
    err = mon.stderr()
    if case["warn"]:
        lines = [ln for ln in err.splitlines() if case["warn"] in ln]
        assert len(lines) == 1, err
    assert "error" not in err, err

    # Per-IP counts are exact whatever was refused.
    pcap_truth = connection_bytes(str(tmp_path / "deg.pcap"), [t.mmac],
                                  pre_port, p_pre)
    got = m.per_ip()
    assert got[p_new] == {"tx_bytes": udp_tx[0], "tx_packets": udp_tx[1],
                          "rx_bytes": 0, "rx_packets": 0}
    assert got[p_pre] == pcap_truth

    # Per process: attributed where the rung still can, else no series
    # (nothing reads owners) or pid 0, never a wrong process.
    procs = m.all("ip_traffic_process_tx_bytes_total")
    if not case["pre"] and not case["new"]:
        assert states["attribution"] == ("none", "unavailable")
        assert not [lab for lab, _ in procs if lab["pid"] != "0"], procs
    else:
        want_pre = pcap_truth if case["pre"] else e2e.empty_counts()
        assert proc_counts(m, p_pre, pre.pid) == want_pre
        if not case["pre"]:
            assert proc_counts(m, p_pre, 0) == pcap_truth
        assert proc_counts(m, p_new, sender.pid) == got[p_new]
        assert proc_counts(m, p_new, 0) == e2e.empty_counts()

    # `check` under the same refusal names the same variants.
    chk = e2e.kernel_features(itm_bin, t.mns)
    for feature, want in case["want"].items():
        assert chk[feature] == want, (feature, chk)
