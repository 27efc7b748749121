# SPDX-License-Identifier: MIT
"""The exporter under hostile clients (issue: slowloris turned it off).

The attackers live in the peer namespace on 100 addresses of their own
and talk to the monitor over the veth; the real scraper comes from
another peer address.  Exactness is not in question here: what is asserted
is that real scrapes keep being answered, promptly, and that the daemon's
memory and descriptors stay bounded."""

import os
import resource
import select
import socket
import time

import itm_e2e as e2e

PORT = 9877
N_ADDRS = 100
SLOW_PER_ADDR = 10


def _n_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _timed_scrape(ns, host, src=None, timeout=10):
    t0 = time.monotonic()
    st, _, body = e2e.http_request(ns, PORT, host=host, timeout=timeout,
                                   src=src)
    return st, time.monotonic() - t0, body


def _slow_clients(gate, server, addrs, per_addr):
    """Keep per_addr connections per address open, each dripping one
    header byte per second and reconnecting whenever the server hangs up;
    until the gate opens.  Returns (connects, hang-ups seen)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = {}
    stats = {"connects": 0, "hangups": 0}

    def open_one(src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect((server, PORT))
        except BlockingIOError:
            pass
        socks[s] = [src, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-a: ", 0]
        stats["connects"] += 1

    for src in addrs:
        for _ in range(per_addr):
            open_one(src)
    next_drip = time.monotonic()
    while True:
        r, _, _ = select.select([gate.fd], [], [], 0.05)
        if r:
            break
        now = time.monotonic()
        if now < next_drip:
            continue
        next_drip = now + 1.0
        for s, st in list(socks.items()):
            try:
                if st[2] == 0:
                    s.send(st[1])  # the request line and half a header
                    st[2] = 1
                else:
                    s.send(b"x")  # one byte a second, never a CRLF
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    raise ConnectionResetError()
            except BlockingIOError:
                pass
            except OSError:
                stats["hangups"] += 1
                del socks[s]
                s.close()
                open_one(st[0])
    for s in socks:
        s.close()
    return stats


def test_slow_clients_do_not_delay_scrapes(topo, start_monitor):
    t = topo
    srv = t.MON4
    # 100 attacker addresses on the peer side of the veth.
    attackers = ["10.77.2.%d" % i for i in range(1, N_ADDRS + 1)]
    for a in attackers:
        e2e.nsx(t.pns, "ip", "addr", "add", a + "/16", "dev", t.pif)
        e2e.nsx(t.mns, "ip", "neigh", "replace", a, "lladdr", t.pmac, "dev",
                t.mif, "nud", "permanent")
    mon = start_monitor(t, "-s", "1")
    pid = mon.proc.pid
    for _ in range(3):
        st, _, _ = _timed_scrape(t.pns, srv)
        assert st == 200
    rss0 = e2e.rss_kib(pid)

    atk = e2e.Forked(t.pns, _slow_clients, srv, attackers, SLOW_PER_ADDR,
                     gated=True)
    try:
        time.sleep(3)  # all 1,000 connected and dripping
        worst = 0.0
        times = []
        for _ in range(15):
            st, dt, body = _timed_scrape(t.pns, srv, t.peer4[0])
            assert st == 200
            assert b"ip_traffic_all_tx_bytes_total" in body
            times.append(dt)
            worst = max(worst, dt)
            time.sleep(1)
        rss1 = e2e.rss_kib(pid)
        fds = _n_fds(pid)
    finally:
        atk.go()
        stats = atk.wait(timeout=60)
    print("scrape times under 1,000 slow clients: max %.3f s, median "
          "%.3f s; RSS %d -> %d KiB; %d fds; attacker connects %d, "
          "hang-ups %d" % (worst, sorted(times)[len(times) // 2], rss0,
                           rss1, fds, stats["connects"], stats["hangups"]))
    # The bar from the issue: no real scrape delayed beyond 1 s.
    assert worst < 1.0, times
    # The bound in docs/metrics.md: the 32 KiB buffer pools of the 256 kept
    # connections become resident as connections come and go (measured
    # +5 MiB after 15 s, levelling off at +10 MiB after 3 minutes).  And
    # descriptors for no more than MHD's hard limit.
    assert rss1 - rss0 < 12 * 1024, (rss0, rss1)
    assert fds < 600, fds
    # The limits did act: the server hung up on some attackers.
    assert stats["hangups"] > 0
    assert mon.proc.poll() is None


def _burst(server, addrs, n):
    """n connection attempts as fast as possible, then close them all.
    Returns how many connected."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((addrs[i % len(addrs)], 0))
        try:
            s.connect((server, PORT))
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(2)
    ok = 0
    for s in socks:
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            try:
                s.getpeername()
                ok += 1
            except OSError:
                pass
        s.close()
    return ok


def test_connection_burst_leaves_it_serving(topo, start_monitor):
    t = topo
    srv = t.MON4
    attackers = ["10.77.3.%d" % i for i in range(1, N_ADDRS + 1)]
    for a in attackers:
        e2e.nsx(t.pns, "ip", "addr", "add", a + "/16", "dev", t.pif)
        e2e.nsx(t.mns, "ip", "neigh", "replace", a, "lladdr", t.pmac, "dev",
                t.mif, "nud", "permanent")
    mon = start_monitor(t, "-s", "1")
    pid = mon.proc.pid
    connected = e2e.Forked(t.pns, _burst, srv, attackers, 10000).wait(
        timeout=120)
    # Serving again at once, and nothing of the burst is kept.
    st, dt, _ = _timed_scrape(t.pns, srv, t.peer4[0])
    assert st == 200
    deadline = time.monotonic() + 15
    while _n_fds(pid) > 100 and time.monotonic() < deadline:
        time.sleep(0.2)
    print("burst: %d of 10000 connected; next scrape %.3f s; %d fds after"
          % (connected, dt, _n_fds(pid)))
    assert _n_fds(pid) <= 100
    assert mon.proc.poll() is None
    for _ in range(3):
        st, _, _ = _timed_scrape(t.pns, srv, t.peer4[0])
        assert st == 200
