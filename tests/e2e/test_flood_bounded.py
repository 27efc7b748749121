# SPDX-License-Identifier: MIT
"""Memory stays bounded under a random-source flood, and no byte is lost.

Spoofed frames with random IPv4 and IPv6 sources, ten times --max-tracked
distinct ones, are written by a packet socket on the peer side of the veth
(inside the test namespaces only) and counted at TC ingress of the
monitored end.  Ground truth: a capture on the monitored veth.  At every
scrape, for every direction and unit:

    all = sum(per-IP series) + below_threshold + evicted + overflow

and at the end `all` equals the capture exactly.  A second run caps the
daemon's address space (RLIMIT_AS) so that the table cannot grow: the
counts that find no entry land in the evicted aggregate, the failure is
counted and logged once, and the totals are still exact."""

import random
import re
import socket
import struct
import time

import itm_e2e as e2e

SINK_PORT = 5001
FAMS = [(d, u) for d in ("tx", "rx") for u in ("bytes", "packets")]


def _csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def _flood(dev, dst_mac, src_mac, dst4, dst6, n, seed, rounds_per_sec=None):
    """n frames from n distinct random sources (half IPv4, half IPv6).
    Returns (frames, IP bytes) written."""
    rng = random.Random(seed)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    eth4 = dst_mac + src_mac + b"\x08\x00"
    eth6 = dst_mac + src_mac + b"\x86\xdd"
    d4 = socket.inet_pton(socket.AF_INET, dst4)
    d6 = socket.inet_pton(socket.AF_INET6, dst6)
    payload = b"f" * 18
    udp4 = struct.pack("!HHHH", 40000, SINK_PORT, 8 + len(payload), 0)
    seen4 = set()
    seen6 = set()
    frames = nbytes = 0
    for i in range(n):
        if i % 2 == 0:
            while True:
                # 22 bits: all of them end up in the address (100.64/10),
                # so distinct values are distinct sources
                a = rng.getrandbits(22)
                if a not in seen4:
                    seen4.add(a)
                    break
            src = bytes([100, 64 | (a >> 16) & 0x3F, (a >> 8) & 0xFF,
                         a & 0xFF])
            tot = 20 + len(udp4) + len(payload)
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, i & 0xFFFF, 0,
                              64, 17, 0, src, d4)
            hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
            frame = eth4 + hdr + udp4 + payload
        else:
            while True:
                a = rng.getrandbits(64)
                if a not in seen6:
                    seen6.add(a)
                    break
            src = b"\xfd\x99" + b"\x00" * 6 + struct.pack("!Q", a)
            plen = 8 + len(payload)
            hdr = struct.pack("!IHBB16s16s", 0x60000000, plen, 17, 64, src,
                              d6)
            tot = 40 + plen
            frame = eth6 + hdr + struct.pack("!HHHH", 40000, SINK_PORT,
                                             plen, 0x1234) + payload
        s.send(frame)
        frames += 1
        nbytes += tot
    s.close()
    return frames, nbytes


def _finished(pid):
    """The child exited (a zombie until Forked.wait reaps it)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _vm_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _scalar(m, name):
    v = m.value(name)
    assert v is not None, name
    return int(v)


def _assert_identity(m):
    per_ip = m.per_ip()
    for d, u in FAMS:
        k = "%s_%s" % (d, u)
        series = sum(c[k] for c in per_ip.values())
        overflow = sum(int(v) for _, v in
                       m.all("ip_traffic_overflow_%s_%s_total" % (d, u)))
        below = _scalar(m, "ip_traffic_below_threshold_%s_%s" % (d, u))
        evicted = _scalar(m, "ip_traffic_evicted_%s_%s_total" % (d, u))
        allv = _scalar(m, "ip_traffic_all_%s_%s_total" % (d, u))
        assert allv == series + below + evicted + overflow, (
            k, allv, series, below, evicted, overflow)


def _truth(t, pcap):
    ip, _ = e2e.parse_pcap(pcap, [t.mmac])
    tot = e2e.empty_counts()
    per = {}
    for (d, remote, _), (b, p) in ip.items():
        tot[d + "_bytes"] += b
        tot[d + "_packets"] += p
        e2e.add_counts(per, remote, d, b, p)
    return tot, per


def _run_flood(t, mon, tmp_path, n, seed, scrape_during=True, before=None):
    """before: counts of the real peer sent before this capture began."""
    sinks = e2e.Sinks(t.mns, [t.MON4, t.MON6], SINK_PORT)
    cap = e2e.Capture(t.mns, t.mif, str(tmp_path / ("flood%d.pcap" % seed)))
    try:
        # A real peer above the threshold, before and after the flood.
        e2e.udp_send(t.pns, t.peer4[0], t.MON4, SINK_PORT, [1400] * 120)
        gen = e2e.Forked(t.pns, _flood, t.pif,
                         bytes.fromhex(t.mmac.replace(":", "")),
                         bytes.fromhex(t.pmac.replace(":", "")), t.MON4,
                         t.MON6, n, seed)
        scrapes = 0
        if scrape_during:
            deadline = time.monotonic() + 120
            # Scrape while the generator runs: the identity holds in each.
            while time.monotonic() < deadline:
                _assert_identity(mon.scrape())
                scrapes += 1
                if _finished(gen.pid):
                    break
                time.sleep(0.2)
        frames, _ = gen.wait(timeout=300)
        e2e.udp_send(t.pns, t.peer4[0], t.MON4, SINK_PORT, [1400] * 10)
        t.wait_quiet(quiet_for=0.5)
        cap.stop()
    finally:
        sinks.close()
    tot, per = _truth(t, str(tmp_path / ("flood%d.pcap" % seed)))
    for k, v in (before or {}).items():
        tot[k] += v
        per[t.peer4[0]][k] += v
    # While the daemon still merges the flood's last interval, a scrape is
    # answered from the previous one's data (a scrape never waits more
    # than 0.5 s): exact, but earlier.  Every scrape satisfies the
    # identity; the totals reach the capture once the merge is done.
    deadline = time.monotonic() + 20
    while True:
        m = mon.scrape()
        _assert_identity(m)
        got = {"%s_%s" % (d, u): _scalar(m, "ip_traffic_all_%s_%s_total" %
                                         (d, u)) for d, u in FAMS}
        if got == tot or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got == tot, (got, tot, mon.stderr())
    # The real peer's series is exact.
    assert m.per_ip()[t.peer4[0]] == per[t.peer4[0]]
    return m, frames, scrapes, tot


def test_flood_of_ten_times_the_cap(topo, start_monitor, tmp_path):
    t = topo
    cap = 10000
    mon = start_monitor(t, "-s", "0.5", "--max-tracked", str(cap),
                        threshold="100000")
    pid = mon.proc.pid
    mon.scrape()
    rss0 = e2e.rss_kib(pid)
    m, frames, scrapes, _ = _run_flood(t, mon, tmp_path, 10 * cap, 1)
    rss1 = e2e.rss_kib(pid)
    print("flood: %d frames from %d sources, cap %d: tracked %d, evicted "
          "%d, %d scrapes during; RSS %d -> %d KiB" % (
              frames, frames, cap,
              _scalar(m, "ip_traffic_tracked_addresses"),
              _scalar(m, "ip_traffic_evicted_addresses_total"), scrapes,
              rss0, rss1))
    assert frames == 10 * cap
    assert _scalar(m, "ip_traffic_tracked_addresses") <= cap
    assert _scalar(m, "ip_traffic_max_tracked_addresses") == cap
    assert _scalar(m, "ip_traffic_evicted_addresses_total") >= 9 * cap
    assert _scalar(m, "ip_traffic_alloc_failures_total") == 0
    # The stated bound: the tables of 10,000 addresses (per address and
    # per process) stay within 16 MiB whatever the flood.
    assert rss1 - rss0 < 16 * 1024, (rss0, rss1)
    assert mon.stderr().count("--max-tracked") == 1, mon.stderr()


def test_allocation_failure_counted_not_lost(topo, start_monitor, tmp_path):
    t = topo
    # --no-pid: the per-address table is the one that cannot grow.
    mon = start_monitor(t, "-s", "0.5", "--max-tracked", "10000000",
                        "--no-pid", threshold="100000")
    pid = mon.proc.pid
    mon.scrape()
    mon.scrape()
    # Once it runs (loading BTF takes more), allow 16 MiB more address
    # space than it has: a table of 400,000 addresses cannot fit.
    size_kib = _vm_kib(pid, "VmSize")
    limit = (size_kib + 16 * 1024) * 1024
    e2e.sh("prlimit", "--pid", str(pid), "--as=%d" % limit)
    m, frames, _, _ = _run_flood(t, mon, tmp_path, 400000, 2)
    failures = _scalar(m, "ip_traffic_alloc_failures_total")
    print("RLIMIT_AS %d MiB (VmSize %d MiB at start): %d frames, %d "
          "allocation failures, tracked %d, evicted rx packets %d" % (
              limit >> 20, size_kib >> 10, frames, failures,
              _scalar(m, "ip_traffic_tracked_addresses"),
              _scalar(m, "ip_traffic_evicted_rx_packets_total")))
    assert failures > 0
    assert _scalar(m, "ip_traffic_evicted_rx_packets_total") > 0
    assert mon.stderr().count("out of memory") == 1, mon.stderr()
    # The line says how many were tracked then (a later drain may still
    # grow the table), not the limit.
    said = re.search(r"out of memory with (\d+) remote addresses tracked "
                     r"\(--max-tracked 10000000\)", mon.stderr())
    assert said, mon.stderr()
    print("logged: %s tracked" % said.group(1))
    assert 0 < int(said.group(1)) <= _scalar(m,
                                             "ip_traffic_tracked_addresses")
    # --no-pid and far from the limit: every refusal is for lack of memory.
    assert _scalar(m, "ip_traffic_refusals_total") == failures
    assert mon.proc.poll() is None


def _summary_total(text):
    """tx/rx bytes/packets of the final summary's TOTAL row (after the
    RANK and REMOTE IP columns: 6 + 1 + 39 cells)."""
    rows = [ln for ln in text.splitlines() if ln.startswith("TOTAL ")]
    assert len(rows) == 1, text
    n = [int(x) for x in rows[0][46:].split()[:4]]
    return {"tx_bytes": n[0], "tx_packets": n[1], "rx_bytes": n[2],
            "rx_packets": n[3]}


def test_full_of_exported_refusals_counted(topo, start_monitor, tmp_path):
    """--max-tracked 1000 with -t 0: every kept address is exported, so
    nothing can be evicted and each newcomer is refused.  Every refusal is
    counted (one per flood source: one frame each), its traffic is in
    ip_traffic_evicted_*, the log says how many are tracked, and the final
    summary's TOTAL equals the capture."""
    t = topo
    cap = 1000
    mon = start_monitor(t, "-s", "0.5", "--max-tracked", str(cap),
                        threshold="0")
    # The real peer is tracked before the flood fills the table.
    sinks = e2e.Sinks(t.mns, [t.MON4], SINK_PORT)
    try:
        b, p = e2e.udp_send(t.pns, t.peer4[0], t.MON4, SINK_PORT, [100] * 3)
    finally:
        sinks.close()
    mon.scrape()
    m, frames, _, tot = _run_flood(t, mon, tmp_path, 5 * cap, 3,
                                   before={"rx_bytes": b, "rx_packets": p})
    refusals = _scalar(m, "ip_traffic_refusals_total")
    print("%d flood sources, cap %d: tracked %d, refusals %d, evicted rx "
          "packets %d, all rx packets %d (capture %d)" % (
              frames, cap, _scalar(m, "ip_traffic_tracked_addresses"),
              refusals, _scalar(m, "ip_traffic_evicted_rx_packets_total"),
              _scalar(m, "ip_traffic_all_rx_packets_total"),
              tot["rx_packets"]))
    # The capture saw every flood source once, and the peer.
    _, per = _truth(t, str(tmp_path / "flood3.pcap"))
    assert len(per) == frames + 1
    assert _scalar(m, "ip_traffic_tracked_addresses") == cap
    assert _scalar(m, "ip_traffic_exported_addresses") == cap
    # The peer plus cap - 1 flood sources are kept; the rest refused.
    assert refusals == frames - (cap - 1)
    assert _scalar(m, "ip_traffic_evicted_rx_packets_total") == refusals
    assert _scalar(m, "ip_traffic_evicted_tx_packets_total") == 0
    assert _scalar(m, "ip_traffic_evicted_addresses_total") == 0
    assert _scalar(m, "ip_traffic_alloc_failures_total") == 0
    assert _scalar(m, "ip_traffic_process_refusals_total") > 0
    err = mon.stderr()
    lines = [ln for ln in err.splitlines() if "--max-tracked" in ln]
    assert len(lines) == 1, err
    assert ("%d remote addresses tracked, at most %d (--max-tracked), and "
            "none can be evicted" % (cap, cap)) in lines[0], err
    assert mon.stop() == 0
    assert _summary_total(mon.stdout()) == tot
