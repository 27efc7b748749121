# SPDX-License-Identifier: MIT
"""Clients that request /metrics and never read must not starve a real
scraper (issue 28, item 4).

The monitor exports N addresses (`-t 0`): one spoofed UDP frame from each
of N distinct sources (a tenth IPv6), written by a packet socket on the
peer side of the test veth: a ~12 MB body with 14,000 addresses, ~4.9 MB
with 5,700.  Fifty attackers, on 127.0.0.2-51 inside the monitor's
namespace, each open a connection with `GET /metrics` 20 times a second
and never read a byte.  A real scraper on 127.0.0.1, which scraped before
the attack as Prometheus would have, scrapes 30 times meanwhile: every
scrape must be a 200 with the complete body -- each of the N addresses
with exactly the one frame it sent, and nothing else.  The daemon's CPU
while the attack goes on alone stays far from a render per request."""

import http.client
import ipaddress
import os
import resource
import select
import socket
import struct
import time

import pytest

import itm_e2e as e2e
from test_flood_bounded import _csum

PORT = 9877
SINK_PORT = 5001
PAYLOAD = 18
IP4_LEN = 20 + 8 + PAYLOAD
IP6_LEN = 40 + 8 + PAYLOAD
N_SCRAPES = 30


def _sources(n, n6):
    """n distinct source addresses: n6 IPv6 (fd99::/16), the rest IPv4
    (100.64/10)."""
    base4 = int(ipaddress.IPv4Address("100.64.0.1"))
    base6 = int(ipaddress.IPv6Address("fd99::1"))
    return ([ipaddress.IPv4Address(base4 + i) for i in range(n - n6)] +
            [ipaddress.IPv6Address(base6 + i) for i in range(n6)])


def _send_frames(dev, dst_mac, src_mac, dst4, dst6, srcs):
    """One UDP frame from each source; returns how many were written."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    d4 = socket.inet_pton(socket.AF_INET, dst4)
    d6 = socket.inet_pton(socket.AF_INET6, dst6)
    payload = b"s" * PAYLOAD
    n = 0
    for a in srcs:
        if a.version == 4:
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, IP4_LEN, n & 0xFFFF,
                              0, 64, 17, 0, a.packed, d4)
            hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
            frame = (dst_mac + src_mac + b"\x08\x00" + hdr +
                     struct.pack("!HHHH", 40000, SINK_PORT, 8 + PAYLOAD, 0))
        else:
            hdr = struct.pack("!IHBB16s16s", 0x60000000, 8 + PAYLOAD, 17, 64,
                              a.packed, d6)
            frame = (dst_mac + src_mac + b"\x86\xdd" + hdr +
                     struct.pack("!HHHH", 40000, SINK_PORT, 8 + PAYLOAD,
                                 0x1234))
        s.send(frame + payload)
        n += 1
        if n % 256 == 0:
            time.sleep(0.002)  # well within the receiver's backlog
    s.close()
    return n


def _check_body(body, expect):
    """The body holds exactly the expected per-address series: {address:
    rx IP bytes}, one packet each, nothing sent.  Returns the number of
    lines of the body."""
    seen = {k: {} for k in ("rx_bytes", "rx_packets", "tx_bytes",
                            "tx_packets")}
    lines = body.split(b"\n")
    for line in lines:
        for k, d in seen.items():
            if line.startswith(b"ip_traffic_%s_total{" % k.encode()):
                break
        else:
            continue
        i = line.index(b'remote_ip="') + len(b'remote_ip="')
        ip = ipaddress.ip_address(line[i:line.index(b'"', i)].decode())
        assert ip not in d, "series twice: %r" % line
        d[ip] = int(line.rsplit(b" ", 1)[1])
    assert seen["rx_bytes"] == expect, "rx bytes differ: %d series, %d " \
        "expected" % (len(seen["rx_bytes"]), len(expect))
    assert seen["rx_packets"] == {a: 1 for a in expect}
    assert seen["tx_bytes"] == seen["tx_packets"] == {a: 0 for a in expect}
    assert body.endswith(b"\n")
    return len(lines)


def _attack(gate, server, addrs, rate):
    """From each of addrs, rate times a second: connect, send GET /metrics
    and never read.  A connection the server ends (FIN, reset) is closed;
    all others are kept.  Runs until the gate opens; returns counters."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    ep = select.epoll()
    socks = {}
    st = {"opened": 0, "requests": 0, "ended": 0, "refused": 0}
    period = 1.0 / rate
    next_round = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= next_round:
            next_round += period
            if next_round < now:
                next_round = now + period
            for a in addrs:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.bind((a, 0))
                try:
                    s.connect((server, PORT))
                except BlockingIOError:
                    pass
                except OSError:
                    st["refused"] += 1
                    s.close()
                    continue
                socks[s.fileno()] = [s, False]
                ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLRDHUP)
                st["opened"] += 1
        r, _, _ = select.select([gate.fd], [], [], 0)
        if r:
            break
        wait = max(0.0, min(next_round - time.monotonic(), 0.05))
        for fd, ev in ep.poll(wait):
            s, sent = socks[fd]
            if ev & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                ep.unregister(fd)
                del socks[fd]
                s.close()
                st["ended"] += 1
                continue
            if ev & select.EPOLLOUT and not sent:
                try:
                    s.send(req)
                    st["requests"] += 1
                except OSError:
                    pass
                socks[fd][1] = True
                # From now on only the hang-up matters: nothing is read.
                ep.modify(fd, select.EPOLLRDHUP)
    for s, _ in socks.values():
        s.close()
    ep.close()
    return st


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _run(t, start_monitor, n_addrs, n_attackers=50, rate=20):
    sinks = e2e.Sinks(t.mns, [t.MON4, t.MON6], SINK_PORT)
    try:
        mon = start_monitor(t, "-s", "1")
        srcs = _sources(n_addrs, n_addrs // 10)
        rx0 = e2e.link_stats(t.mns, t.mif)["rx"]
        sent = e2e.Forked(t.pns, _send_frames, t.pif,
                          bytes.fromhex(t.mmac.replace(":", "")),
                          bytes.fromhex(t.pmac.replace(":", "")), t.MON4,
                          t.MON6, srcs).wait(timeout=120)
        rx1 = e2e.link_stats(t.mns, t.mif)["rx"]
        assert sent == n_addrs
        assert rx1["packets"] - rx0["packets"] == n_addrs
        assert rx1["dropped"] == rx0["dropped"]
        expect = {a: IP4_LEN if a.version == 4 else IP6_LEN for a in srcs}
        # A scrape drains the kernel map: the first one has them all.
        st, _, ref = e2e.http_request(t.mns, PORT, timeout=30)
        assert st == 200
        n_lines = _check_body(ref, expect)

        attackers = ["127.0.0.%d" % i for i in range(2, 2 + n_attackers)]
        pid = mon.proc.pid
        atk = e2e.Forked(t.mns, _attack, "127.0.0.1", attackers, rate,
                         gated=True)
        results = []
        try:
            time.sleep(3)  # the attack in full swing
            cpu0, t0 = _cpu_ticks(pid), time.monotonic()
            for _ in range(N_SCRAPES):
                s0 = time.monotonic()
                try:
                    st, _, body = e2e.http_request(t.mns, PORT, timeout=20)
                except (OSError, http.client.HTTPException) as e:
                    st, body = repr(e), b""
                dt = time.monotonic() - s0
                ok = st == 200 and _check_body(body, expect) == n_lines
                results.append((st, dt, ok, len(body)))
                time.sleep(0.2)
            cpu = (_cpu_ticks(pid) - cpu0) / os.sysconf("SC_CLK_TCK")
            wall = time.monotonic() - t0
            rss = e2e.rss_kib(pid)
            # The attack alone, once the real scraper is gone.
            cpu0, t0 = _cpu_ticks(pid), time.monotonic()
            time.sleep(3)
            atk_cpu = ((_cpu_ticks(pid) - cpu0) / os.sysconf("SC_CLK_TCK") /
                       (time.monotonic() - t0))
        finally:
            atk.go()
            stats = atk.wait(timeout=60)
        good = sum(1 for r in results if r[2])
        times = sorted(r[1] for r in results)
        print("%d addresses, %d-byte body; %d attackers x %d/s: %d of %d "
              "scrapes complete and exact; statuses %r; time median %.3f "
              "s, max %.3f s; daemon CPU %.2f s in %.1f s (%.0f%%), the "
              "attack alone %.0f%%; RSS %d KiB; attackers %r" % (
                  n_addrs, len(ref), n_attackers, rate, good, N_SCRAPES,
                  sorted({str(r[0]) for r in results}),
                  times[len(times) // 2], times[-1], cpu, wall,
                  100 * cpu / wall, 100 * atk_cpu, rss, stats))
        assert mon.proc.poll() is None, mon.stderr()
        # The attack did run: the server saw (and mostly refused) it.
        assert stats["requests"] > n_attackers * rate * 3
        assert good == N_SCRAPES, [r[:2] for r in results]
        # Refused cheaply: a render per attacking request would take
        # more than a core (~4 MB rendered for each, 1,000 a second).
        assert atk_cpu < 0.5, atk_cpu
    finally:
        sinks.close()


# Each address has 8 series (per address and per process, tx and rx,
# bytes and packets): ~850 bytes of body.
@pytest.mark.parametrize("n_addrs", [14000, 5700], ids=["12MB", "4.9MB"])
def test_nonreading_clients_do_not_starve_scrapes(topo, start_monitor,
                                                  n_addrs):
    _run(topo, start_monitor, n_addrs)
