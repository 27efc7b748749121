# SPDX-License-Identifier: MIT
"""One instance per interface, and an instance that notices when its hook
is taken away.

The lock: a first monitor runs (under nsenter, under `ip netns exec`, or
dropped to --user nobody); its lock file is deleted; then, round after
round, a second instance is started on the same interface and namespace
in every way that once got past the lock files (another --pin-dir under
nsenter; `ip netns exec`, whose private /sys gets its own bpffs; a private
/run), and `detach` is tried.  Each is refused with one stderr line naming
the first's pid, exit status 2; the first's attachments stay the same and
it keeps counting exactly (ground truth: the datagrams sent each way).

The ownership check: under a running monitor its hook is removed or
replaced (tc filter del, a foreign filter put at our handle/priority, the
clsact qdisc deleted, tcx links detached with bpftool).  Within one
sample interval one warning names the interface, the direction and what
is there instead, and ip_traffic_interface_attached is 0; the direction
whose hook is gone counts nothing more, the other still counts exactly.
Nothing is attached again, and what someone else put there is left alone.
"""

import os
import signal
import subprocess
import time

import pytest

import itm_e2e as e2e
from test_errors import assert_one_line_exit2
from test_lifecycle import assert_nothing_attached

PORT = 5031
SECOND_PORT = 9878  # never the first's: a port in use must not explain it
ROUNDS = 2  # times through every way of starting the second instance
SECOND_WAYS = ["nsenter-other-pin-dir", "ip-netns-exec", "private-run",
               "detach"]


def _second(t, itm_bin, how, pin, mode_args):
    """Start a second instance (or `detach`) on t.mif the way `how` says;
    it runs -d 3 if it is not refused."""
    net = ["nsenter", "--net=/run/netns/%s" % t.mns]
    if how == "detach":
        return subprocess.run(net + [itm_bin, "detach", "-i", t.mif,
                                     "--pin-dir", pin],
                              capture_output=True, text=True, timeout=30)
    argv = [itm_bin, "-i", t.mif, "-p", str(SECOND_PORT), "--pin-dir", pin,
            "-d", "3", "-t", "0", "--quiet", "--no-summary"] + mode_args
    if how == "ip-netns-exec":
        pre = ["ip", "netns", "exec", t.mns]
    elif how == "private-run":
        # Another mount namespace with an empty /run: no lock file at all.
        pre = net + ["unshare", "--mount", "--propagation", "private",
                     "sh", "-c",
                     'mount -t tmpfs itm-e2e-run /run && exec "$@"', "sh"]
    else:
        pre = net
    return subprocess.run(pre + argv, capture_output=True, text=True,
                          timeout=30)


def _exchange(t, peer, size, truth):
    """300 datagrams peer -> monitor and 100 back, added to truth."""
    b, p = e2e.udp_send(t.pns, peer, t.MON4, PORT, [size] * 300)
    e2e.add_counts(truth, peer, "rx", b, p)
    b, p = e2e.udp_send(t.mns, t.MON4, peer, PORT, [size + 7] * 100)
    e2e.add_counts(truth, peer, "tx", b, p)


@pytest.mark.parametrize("first", ["nsenter", "ip-netns-exec", "user"])
@pytest.mark.parametrize("mode", ["tcx", "clsact"])
def test_second_instance_refused_however_started(topo, start_monitor, itm_bin,
                                                 pin_base, request, mode,
                                                 first):
    t = topo
    mode_args = ["--clsact"] if mode == "clsact" else []
    args = ["-s", "0.2"] + mode_args
    if first == "user":
        args += ["--user", "nobody"]
    mon = start_monitor(t, *args, netns_exec=first == "ip-netns-exec")
    assert "(%s)" % mode in mon.stderr(), mon.stderr()
    lock = os.path.join(e2e.LOCK_DIR, t.instance() + ".lock")
    assert os.path.exists(lock)
    os.unlink(lock)
    other_pin = pin_base + "_second"
    request.addfinalizer(lambda: e2e.remove_tree(other_pin))
    attached = sorted(t.attached_programs())
    assert len(attached) == 2, attached
    peer = t.peer4[0]
    truth = {}
    want = "%s is already monitored by pid %d; stop it first" % (
        t.mif, mon.proc.pid)

    sinks = [e2e.Sinks(t.mns, [t.MON4], PORT), e2e.Sinks(t.pns, [peer], PORT)]
    try:
        for rnd in range(ROUNDS * len(SECOND_WAYS)):
            how = SECOND_WAYS[rnd % len(SECOND_WAYS)]
            pin = pin_base if how == "ip-netns-exec" else other_pin
            p = _second(t, itm_bin, how, pin, mode_args)
            assert_one_line_exit2(p)
            assert want in p.stderr, (how, p.stderr)
            # Untouched: the same programs, nothing of the second's left.
            assert sorted(t.attached_programs()) == attached, how
            assert not os.path.exists(other_pin), os.listdir(other_pin)
            _exchange(t, peer, 200 + rnd, truth)
            m = mon.scrape()
            assert m.per_ip() == truth, (how, m.per_ip(), truth)
            assert m.value("ip_traffic_interface_attached", iface=t.mif) == 1
    finally:
        for s in sinks:
            s.close()
    assert "no longer attached" not in mon.stderr(), mon.stderr()
    # The lock is there, and the refused ones' probes were answered (the
    # queue is emptied every interval, so it never fills).
    time.sleep(0.5)
    out = e2e.sh("nsenter", "--net=/run/netns/%s" % t.mns, "ss", "-xlH").stdout
    held = [ln.split() for ln in out.splitlines()
            if "@ip_traffic_monitor/%s " % t.mif in ln]
    assert len(held) == 1 and held[0][2] == "0", out
    print("%s, first under %s: %d second starts refused; counted rx %d B "
          "/ %d pkts, tx %d B / %d pkts, exactly" % (
              mode, first, ROUNDS * len(SECOND_WAYS),
              truth[peer]["rx_bytes"], truth[peer]["rx_packets"],
              truth[peer]["tx_bytes"], truth[peer]["tx_packets"]))
    assert mon.stop() == 0, mon.stderr()
    if first == "nsenter":
        assert_nothing_attached(t, pin_base)
    elif mode == "tcx":
        # --user cannot remove a filter, but a tcx link goes with its pin.
        assert t.attached_programs() == []


def _link_detach(t, pin_base, dirs):
    for d in dirs:
        e2e.sh("bpftool", "link", "detach", "pinned",
               os.path.join(pin_base, t.instance(), "link_" + d))


# (name, mode, action(t, pin_base), directions lost, what the warning finds)
REMOVALS = [
    ("tc-filter-del-ingress", "clsact",
     lambda t, pin: e2e.nsx(t.mns, "tc", "filter", "del", "dev", t.mif,
                            "ingress"),
     ["ingress"], "no filter at handle 0x1749 priority 0xc749"),
    ("foreign-filter-at-our-handle", "clsact",
     lambda t, pin: e2e.nsx(t.mns, "tc", "filter", "replace", "dev", t.mif,
                            "ingress", "pref", str(e2e.ITM_TC_PRIO),
                            "handle", hex(e2e.ITM_TC_HANDLE), "bpf",
                            "bytecode", "1,6 0 0 0,"),
     ["ingress"], "a foreign filter is at handle 0x1749 priority 0xc749"),
    ("clsact-qdisc-del", "clsact",
     lambda t, pin: e2e.nsx(t.mns, "tc", "qdisc", "del", "dev", t.mif,
                            "clsact"),
     ["ingress", "egress"], "no filter at handle 0x1749 priority 0xc749"),
    ("tcx-link-detach-ingress", "tcx",
     lambda t, pin: _link_detach(t, pin, ["ingress"]),
     ["ingress"], "was detached"),
    ("tcx-link-detach-both", "tcx",
     lambda t, pin: _link_detach(t, pin, ["ingress", "egress"]),
     ["ingress", "egress"], "was detached"),
]

INTERVAL = 1.0
HOOK_ROUNDS = 3


def _gauge(mon, t):
    return mon.scrape().value("ip_traffic_interface_attached", iface=t.mif)


@pytest.mark.parametrize("user", [False, True], ids=["root", "user"])
@pytest.mark.parametrize("name,mode,action,lost,found", REMOVALS,
                         ids=[r[0] for r in REMOVALS])
def test_hook_taken_away_is_noticed(topo, start_monitor, pin_base, name, mode,
                                    action, lost, found, user):
    t = topo
    args = ["-s", str(INTERVAL)] + (["--clsact"] if mode == "clsact"
                                    else [])
    if user:
        # --reattach: the filters can still be removed on exit; a hook
        # taken away is not attached again all the same.
        args += ["--user", "nobody", "--reattach"]
    peer = t.peer4[1]
    latencies = []
    for rnd in range(HOOK_ROUNDS):
        mon = start_monitor(t, *args)
        truth = {}
        sinks = [e2e.Sinks(t.mns, [t.MON4], PORT),
                 e2e.Sinks(t.pns, [peer], PORT)]
        try:
            _exchange(t, peer, 100 + rnd, truth)
            assert mon.scrape().per_ip() == truth
            assert _gauge(mon, t) == 1

            # A different phase against the daemon's interval each round.
            time.sleep(rnd * INTERVAL / HOOK_ROUNDS)
            action(t, pin_base)
            # From the moment the command has done it (it takes a while
            # to start tc or bpftool on a loaded machine).
            t0 = time.monotonic()
            warned = gauge0 = None
            while time.monotonic() - t0 < 3 * INTERVAL and not (
                    warned and gauge0):
                now = time.monotonic() - t0
                if not warned and "no longer attached" in mon.stderr():
                    warned = now
                if not gauge0 and _gauge(mon, t) == 0:
                    gauge0 = now
                time.sleep(0.02)
            assert warned is not None and gauge0 is not None, mon.stderr()
            # One interval, plus the polling scrapes on a loaded machine.
            assert max(warned, gauge0) < INTERVAL + 0.3, (warned, gauge0)
            latencies.append(max(warned, gauge0))

            # What was lost counts nothing more; the rest still exactly.
            sent = {}
            _exchange(t, peer, 300 + rnd, sent)
            for d, key in (("ingress", "rx"), ("egress", "tx")):
                if d not in lost:
                    for u in ("bytes", "packets"):
                        truth[peer]["%s_%s" % (key, u)] += \
                            sent[peer]["%s_%s" % (key, u)]
            time.sleep(2 * INTERVAL)  # a few more checks: no repeats
            m = mon.scrape()
            assert m.per_ip() == truth, (m.per_ip(), truth)
            assert m.value("ip_traffic_interface_attached",
                           iface=t.mif) == 0
        finally:
            for s in sinks:
                s.close()
        err = mon.stderr()
        warnings = [ln for ln in err.splitlines() if "no longer attached"
                    in ln]
        assert len(warnings) == len(lost), err
        for d, ln in zip(lost, warnings):
            assert "%s: our %s program is no longer attached (" % (
                t.mif, d) in ln, ln
            assert found in ln, ln
        assert "attached again" not in err, err
        if mode == "tcx":
            progs = t.tcx_programs()
            for d in lost:
                assert progs[d] == [], progs
        assert mon.stop(signal.SIGTERM) == 0, mon.stderr()
        if name == "foreign-filter-at-our-handle":
            # Left alone on exit: not ours to remove.
            out = e2e.nsx(t.mns, "tc", "filter", "show", "dev", t.mif,
                          "ingress").stdout
            assert "bytecode '1,6 0 0 0'" in out, out
            assert "handle 0x1749" in out, out
            assert e2e.nsx(t.mns, "tc", "filter", "show", "dev", t.mif,
                           "egress").stdout.strip() == ""
            e2e.nsx(t.mns, "tc", "qdisc", "del", "dev", t.mif, "clsact")
        elif user:
            assert t.attached_programs() == []
        else:
            assert_nothing_attached(t, pin_base)
    print("%s (%s): noticed after %s s (interval %.1f s)" % (
        name, "user" if user else "root",
        ", ".join("%.3f" % x for x in latencies), INTERVAL))


def test_detached_tcx_link_then_restart_adopts(topo, start_monitor,
                                               pin_base):
    """--keep-attached leaves the links pinned; one of them was detached
    meanwhile.  The next start attaches a new link in its place instead of
    failing to take the dead one over, and counts exactly again."""
    t = topo
    peer = t.peer4[2]
    mon = start_monitor(t, "-s", str(INTERVAL), "--keep-attached")
    assert "(tcx)" in mon.stderr(), mon.stderr()
    _link_detach(t, pin_base, ["ingress"])
    assert mon.stop() == 0, mon.stderr()

    again = start_monitor(t, "-s", str(INTERVAL), "--keep-attached")
    assert "the pinned link %s was detached; attaching a new one" % (
        os.path.join(pin_base, t.instance(), "link_ingress")) in \
        again.stderr(), again.stderr()
    progs = t.tcx_programs()
    assert len(progs["ingress"]) == 1 and len(progs["egress"]) == 1, progs
    sinks = [e2e.Sinks(t.mns, [t.MON4], PORT), e2e.Sinks(t.pns, [peer], PORT)]
    try:
        before = again.scrape().per_ip().get(peer, e2e.empty_counts())
        sent = {}
        _exchange(t, peer, 555, sent)
        got = again.scrape().per_ip()[peer]
    finally:
        for s in sinks:
            s.close()
    assert {k: got[k] - before[k] for k in got} == sent[peer]
    time.sleep(2 * INTERVAL)
    assert "no longer attached" not in again.stderr(), again.stderr()
    assert _gauge(again, t) == 1
    assert again.stop() == 0, again.stderr()
    e2e.sh("nsenter", "--net=/run/netns/%s" % t.mns, again.binary, "detach",
           "-i", t.mif, "--pin-dir", pin_base)
    assert_nothing_attached(t, pin_base)


def test_hook_put_back_is_ours_again(topo, start_monitor, pin_base, request):
    """Our clsact filter is deleted, then our own program is put back at
    our handle/priority (pinned by id, `tc filter add ... object-pinned`):
    the gauge goes 0, then 1 again within one interval each, with one line
    each way; counting in that direction resumes exactly, and the filter
    is removed on exit as ours."""
    t = topo
    peer = t.peer4[3]
    mon = start_monitor(t, "-s", str(INTERVAL), "--clsact")
    net = ["nsenter", "--net=/run/netns/%s" % t.mns]
    ingress = [f for f in t.bpf_net()[0]["tc"] if "ingress" in f["kind"]]
    assert len(ingress) == 1, ingress
    prog_pin = pin_base + "_prog"
    request.addfinalizer(lambda: e2e.remove_tree(prog_pin))
    e2e.sh("bpftool", "prog", "pin", "id", str(ingress[0]["id"]), prog_pin)
    truth = {}
    sinks = [e2e.Sinks(t.mns, [t.MON4], PORT), e2e.Sinks(t.pns, [peer], PORT)]
    try:
        _exchange(t, peer, 123, truth)
        e2e.sh(*net, "tc", "filter", "del", "dev", t.mif, "ingress")
        t0 = time.monotonic()
        while _gauge(mon, t) != 0 and time.monotonic() - t0 < 3 * INTERVAL:
            time.sleep(0.02)
        assert time.monotonic() - t0 < INTERVAL + 0.3, mon.stderr()
        lost = {}
        _exchange(t, peer, 200, lost)  # rx not counted: nothing there
        truth[peer]["tx_bytes"] += lost[peer]["tx_bytes"]
        truth[peer]["tx_packets"] += lost[peer]["tx_packets"]

        e2e.sh(*net, "tc", "filter", "add", "dev", t.mif, "ingress", "pref",
               str(e2e.ITM_TC_PRIO), "handle", hex(e2e.ITM_TC_HANDLE), "bpf",
               "object-pinned", prog_pin, "direct-action")
        os.unlink(prog_pin)
        t0 = time.monotonic()
        while _gauge(mon, t) != 1 and time.monotonic() - t0 < 3 * INTERVAL:
            time.sleep(0.02)
        assert time.monotonic() - t0 < INTERVAL + 0.3, mon.stderr()
        _exchange(t, peer, 321, truth)
        assert mon.scrape().per_ip() == truth
    finally:
        for s in sinks:
            s.close()
    err = mon.stderr()
    assert err.count("itm0m: our ingress program is no longer attached") == 1
    assert err.count("itm0m: our ingress program is attached again") == 1
    assert mon.stop() == 0, err
    assert_nothing_attached(t, pin_base)
