# SPDX-License-Identifier: MIT
"""What node_exporter users bring: --web.listen-address, a custom
--web.telemetry-path, --web.max-requests (the next concurrent scrape gets
503 at once, as promhttp), --log.level/--log.format line shapes, -d with
48h-style durations, and the self-metrics: process_* against /proc of the
daemon at the same moment, ip_traffic_build_info, the last drain's
duration, and the --db backlog against the bytes just sent."""

import json
import os
import re
import socket
import subprocess
import time

import itm_e2e as e2e
from test_nonreading_clients import IP4_LEN, IP6_LEN, SINK_PORT, \
    _send_frames, _sources

PORT = 10749
PATH = "/node/metrics"
UDP_PORT = 5007
MAX_REQ = 2
N_SPOOFED = 12000  # a body of ~6 MB, beyond what the socket buffers hold
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _statm(pid):
    with open("/proc/%d/statm" % pid) as f:
        size, resident = f.read().split()[:2]
    return int(size) * PAGE, int(resident) * PAGE


def _cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _nofile_soft(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files")


class _Keep:
    """One keep-alive HTTP connection from the monitor namespace."""

    def __init__(self, ns, src="127.0.0.1", rcvbuf=None):
        import http.client
        self.s = e2e.ns_socket(ns, socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(30)
        self.s.bind((src, 0))
        self.s.connect(("127.0.0.1", PORT))
        self.c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.c.sock = self.s

    def get(self, path=PATH):
        self.c.request("GET", path)
        r = self.c.getresponse()
        return r.status, r.read()

    def send_only(self, path=PATH):
        """A request whose answer is never read."""
        self.s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())

    def close(self):
        self.c.close()
        self.s.close()


def _wait_ready(mon, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert mon.proc.poll() is None, mon.stderr()
        try:
            st, _, _ = e2e.http_request(mon.ns, PORT, path=PATH, timeout=2)
            if st == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(mon.stderr())


def _check_process(mon, t_spawn, t_ready):
    """Each process_* value against /proc of the daemon read around the
    scrape on the same connection (so the same descriptors are open)."""
    pid = mon.proc.pid
    k = _Keep(mon.ns)
    try:
        k.get()  # the connection's descriptor exists from here on
        for attempt in range(5):
            fds0 = len(os.listdir("/proc/%d/fd" % pid))
            vm0, rss0 = _statm(pid)
            cpu0 = _cpu(pid)
            st, body = k.get()
            cpu1 = _cpu(pid)
            vm1, rss1 = _statm(pid)
            fds1 = len(os.listdir("/proc/%d/fd" % pid))
            assert st == 200
            m = e2e.Metrics(body.decode())
            # Another thread may hold a descriptor for a moment: retry.
            if fds0 == fds1 == m.value("process_open_fds"):
                break
        else:
            raise AssertionError("open fds %d/%d, metric %s" % (
                fds0, fds1, m.value("process_open_fds")))
    finally:
        k.close()
    types = {"process_cpu_seconds_total": "counter",
             "process_open_fds": "gauge", "process_max_fds": "gauge",
             "process_virtual_memory_bytes": "gauge",
             "process_resident_memory_bytes": "gauge",
             "process_start_time_seconds": "gauge"}
    for n, ty in types.items():
        assert m.types.get(n) == ty, n
    assert m.value("process_max_fds") == _nofile_soft(pid)
    # /proc moves during the scrape: the value lies between the two looks,
    # give or take one page of resident memory.
    rss = m.value("process_resident_memory_bytes")
    assert min(rss0, rss1) - PAGE <= rss <= max(rss0, rss1) + PAGE, (
        rss0, rss, rss1)
    assert rss % PAGE == 0
    vm = m.value("process_virtual_memory_bytes")
    assert min(vm0, vm1) - PAGE <= vm <= max(vm0, vm1) + PAGE, (vm0, vm, vm1)
    assert cpu0 <= m.value("process_cpu_seconds_total") <= cpu1
    # btime is whole seconds, the start tick 1/TICKS.
    start = m.value("process_start_time_seconds")
    assert t_spawn - 1 <= start <= t_ready + 1, (t_spawn, start, t_ready)
    return m


def test_exporter_conventions(topo, start_monitor, tmp_path, itm_bin):
    t = topo
    db = str(tmp_path / "t.db")
    t_spawn = time.time()
    # Only scrapes drain (-s 60): the backlog is exactly the last scrape's.
    mon = start_monitor(t, "--web.listen-address", "127.0.0.1:%d" % PORT,
                        "--web.telemetry-path", PATH,
                        "--web.max-requests", str(MAX_REQ),
                        "--log.format", "json", "--log.level", "debug",
                        "-s", "60", "--no-pid", "--db", db, port=0,
                        wait=False)
    _wait_ready(mon)
    t_ready = time.time()

    # The path moved; "/" links to it; /metrics is gone.
    st, _, body = e2e.http_request(t.mns, PORT, path="/metrics")
    assert st == 404
    st, _, body = e2e.http_request(t.mns, PORT, path="/")
    assert st == 200 and ('href="%s"' % PATH).encode() in body

    m = _check_process(mon, t_spawn, t_ready)
    ver = subprocess.run([itm_bin, "--version"], capture_output=True,
                         text=True, check=True).stdout.split()[1]
    (lab, v), = m.all("ip_traffic_build_info")
    assert v == 1 and lab["version"] == ver and lab["libbpf"]
    assert lab["kernel"] == os.uname().release
    assert 0 <= m.value("ip_traffic_last_drain_duration_seconds") < 5
    assert 0 <= m.value("ip_traffic_scrape_duration_seconds") < 5

    # The backlog: empty once the writer caught up, then exactly the
    # bytes and rows of the next drain, then empty again.
    def backlog():
        m = mon.scrape_text_at()
        return (m.value("ip_traffic_store_backlog_rows"),
                m.value("ip_traffic_store_backlog_bytes"))

    mon.scrape_text_at = lambda: e2e.Metrics(e2e.http_request(
        t.mns, PORT, path=PATH)[2].decode())
    deadline = time.monotonic() + 15
    while backlog() != (0, 0):
        assert time.monotonic() < deadline, "backlog never empties"
        time.sleep(0.2)
    sinks = e2e.Sinks(t.pns, t.peers, UDP_PORT)
    truth = {}
    try:
        for i, peer in enumerate(t.peers):
            b, _ = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, UDP_PORT,
                                [100 + i, 1000])
            truth[peer] = b
        t.wait_quiet(quiet_for=0.3)
    finally:
        sinks.close()
    assert backlog() == (len(t.peers), sum(truth.values()))
    deadline = time.monotonic() + 15
    while backlog() != (0, 0):
        assert time.monotonic() < deadline, "backlog never empties"
        time.sleep(0.2)
    m = mon.scrape_text_at()
    for peer, b in truth.items():
        assert m.value("ip_traffic_tx_bytes_total", remote_ip=peer) == b

    # --web.max-requests: MAX_REQ scrapes that are never read hold their
    # slots (a body far beyond the socket buffers); the next one, from a
    # third address, is 503 at once; once they go, scrapes succeed.
    msinks = e2e.Sinks(t.mns, [t.MON4, t.MON6], SINK_PORT)
    try:
        srcs = _sources(N_SPOOFED, N_SPOOFED // 10)
        sent = e2e.Forked(t.pns, _send_frames, t.pif,
                          bytes.fromhex(t.mmac.replace(":", "")),
                          bytes.fromhex(t.pmac.replace(":", "")), t.MON4,
                          t.MON6, srcs).wait(timeout=120)
        assert sent == N_SPOOFED
        t.wait_quiet(quiet_for=0.3)
    finally:
        msinks.close()
    m = mon.scrape_text_at()
    for a in srcs[::97]:
        assert m.value("ip_traffic_rx_bytes_total", remote_ip=str(a)) == (
            IP4_LEN if a.version == 4 else IP6_LEN)
    for rnd in range(3):
        holders = [_Keep(t.mns, "127.0.0.%d" % (10 + 2 * i + rnd * 10),
                         rcvbuf=4096) for i in range(MAX_REQ)]
        try:
            for h in holders:
                h.send_only()
            time.sleep(1.0)  # both are being answered, and stuck
            t0 = time.monotonic()
            st, _, body = e2e.http_request(t.mns, PORT, path=PATH,
                                           src="127.0.0.%d" % (9 + rnd * 10))
            assert st == 503, (st, body[:200])
            assert time.monotonic() - t0 < 2.5  # refused, not queued
        finally:
            for h in holders:
                h.close()
        deadline = time.monotonic() + 10
        while True:
            st, _, _ = e2e.http_request(t.mns, PORT, path=PATH, timeout=30)
            if st == 200:
                break
            assert time.monotonic() < deadline, "slots never freed"
            time.sleep(0.2)

    assert mon.stop() == 0
    # --log.format json: every line one JSON object, levels as the Go
    # exporters spell them; --log.level debug shows the debug lines.
    lines = mon.stderr().splitlines()
    recs = [json.loads(ln) for ln in lines]
    assert recs and all(set(r) == {"ts", "level", "msg"} for r in recs)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            r["ts"]) for r in recs)
    levels = {r["level"] for r in recs}
    assert "debug" in levels and "info" in levels, levels
    assert levels <= {"debug", "info", "warn", "error"}
    assert any(r["msg"].startswith("monitoring %s " % t.mif) and
               r["msg"].endswith("; metrics at %s" % PATH) for r in recs)


def test_log_logfmt_level_and_duration(topo, start_monitor):
    """-d 2s ends after two seconds; logfmt lines; --log.level warn keeps
    the info lines out."""
    t = topo
    t0 = time.monotonic()
    mon = start_monitor(t, "--log.format", "logfmt", duration="2s", port=0,
                        wait=False)
    assert mon.wait(30) == 0, mon.stderr()
    took = time.monotonic() - t0
    assert 2 <= took < 15, took
    lines = mon.stderr().splitlines()
    pat = re.compile(r'ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z '
                     r'level=(debug|info|warn|error) msg="(?:[^"\\]|\\.)*"')
    assert lines and all(pat.fullmatch(ln) for ln in lines), lines
    assert any('level=info msg="monitoring %s ' % t.mif in ln
               for ln in lines), lines

    quiet = start_monitor(t, "--log.level", "warn", duration="1s", port=0,
                          wait=False)
    assert quiet.wait(30) == 0, quiet.stderr()
    # The same start, info lines filtered out; today's text shape kept.
    assert "monitoring" not in quiet.stderr(), quiet.stderr()
    for ln in quiet.stderr().splitlines():
        assert ln.startswith("ip_traffic_monitor_cli: "), ln
