# SPDX-License-Identifier: MIT
"""Scrapes never wait for the store: commits and rollups run on persist's
writer thread, outside the collector's lock.

A sender thread in the monitor namespace counts every datagram it hands
to the stack (on a veth, sendto() returns after the TC egress hook ran),
so each scrape is checked against what was sent before it started and
after it ended: before <= ip_traffic_all_tx_bytes_total <= after ("current
numbers"), and all = per-IP + below-threshold + evicted + overflow.

- PostgreSQL behind a TCP proxy run here (in the monitor namespace,
  forwarding to the throwaway cluster's Unix socket) that holds every byte
  for 10 s: every scrape meanwhile answers within 100 ms, and afterwards
  the database holds exactly what was sent.
- The hourly rollup of 65,536 addresses (one spoofed frame each, thrice,
  in three one-second buckets: 196,608 rows to sum; written by a packet
  socket on the peer veth; the store's clock starts 15 s before an hour
  ends, ITM_TEST_CLOCK_START): every scrape overlapping the rollup (its
  start and end are logged with -v; it must take longer than the limit,
  or the test would prove nothing) answers within 100 ms, and the stored
  sums equal the frames and datagrams sent."""

import os
import socket
import sqlite3
import threading
import time

import pytest

import itm_e2e as e2e
import pg_cluster as pc
import test_flood_bounded as flood
import test_nonreading_clients as spoof

UDP_PORT = 5011
SCRAPE_LIMIT_S = 0.1
STALL_S = 10.0
N_ADDRS = 65536
FRAMES_EACH = 3
HOUR = 3600


class Sender(threading.Thread):
    """UDP from the monitor namespace at a steady pace; sent counts only
    datagrams whose sendto() returned."""

    def __init__(self, ns, src, dst, port, size=200, gap=0.004):
        super().__init__(daemon=True)
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        self.sock = e2e.ns_socket(ns, fam, socket.SOCK_DGRAM)
        self.sock.bind((src, 0))
        self.target = (dst, port)
        self.payload = b"q" * size
        self.ip_len = size + e2e.ip_overhead(dst)
        self.bytes = 0
        self.packets = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            assert self.sock.sendto(self.payload, self.target) == len(
                self.payload)
            self.packets += 1
            self.bytes += self.ip_len
            time.sleep(0.004)

    def stop(self):
        self.halt.set()
        self.join()
        self.sock.close()


class StallingProxy:
    """TCP on 127.0.0.1:port inside ns, forwarded to a Unix socket; while
    stalled, every byte (both ways) is held until resume()."""

    def __init__(self, ns, port, unix_path):
        self.unix_path = unix_path
        self.flowing = threading.Event()
        self.flowing.set()
        self.held = 0  # bytes that arrived while stalled
        self.lsock = e2e.ns_socket(ns, socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.unix_path)
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.flowing.is_set():
                    self.held += len(data)
                    self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stall(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()

    def close(self):
        self.resume()
        self.lsock.close()


def scrape_checked(mon, sender, log):
    """One scrape, timed and checked; appended to log as (start, end,
    sent before, all tx bytes, sent after)."""
    before = sender.bytes
    t0 = time.monotonic()
    st, _, body = e2e.http_request(mon.ns, mon.port, timeout=30)
    t1 = time.monotonic()
    after = sender.bytes
    assert st == 200, st
    m = e2e.Metrics(body.decode("utf-8"))
    flood._assert_identity(m)
    tx = m.totals("all")["tx_bytes"]
    # One datagram may be inside sendto(), past the hook, not yet added.
    assert before <= tx <= after + sender.ip_len, (before, tx, after)
    if log:
        assert tx >= log[-1][3], "counters went back"
    log.append((t0, t1, before, tx, after))


def scrape_until(mon, sender, log, until, pause=0.02):
    while time.monotonic() < until:
        scrape_checked(mon, sender, log)
        time.sleep(pause)


def summary(name, log):
    d = sorted(e[1] - e[0] for e in log)
    return "%s: %d scrapes, median %.1f ms, max %.1f ms" % (
        name, len(d), 1e3 * d[len(d) // 2], 1e3 * d[-1])


@pytest.fixture
def cluster():
    if not pc.available():
        pytest.fail("PostgreSQL 15 server binaries missing (postgresql-15)")
    c = pc.Cluster(port=54300 + (os.getpid() + 250) % 500).init().start()
    yield c
    c.teardown()


def test_pg_stall_does_not_stall_scrapes(topo, start_monitor, cluster):
    t = topo
    peer = t.peers[0]
    sinks = e2e.Sinks(t.pns, [peer], UDP_PORT)
    proxy_port = 15432 + os.getpid() % 1000
    proxy = StallingProxy(t.mns, proxy_port, os.path.join(
        cluster.dir, ".s.PGSQL.%d" % cluster.port))
    sender = None
    try:
        url = "postgresql://postgres@127.0.0.1:%d/postgres" % proxy_port
        mon = start_monitor(t, "-s", "0.5", "--db", url, "--db-interval",
                            "1")
        sender = Sender(t.mns, t.mon_addr_for(peer), peer, UDP_PORT)
        sender.start()
        before, during, after = [], [], []
        scrape_until(mon, sender, before, time.monotonic() + 1.5)
        assert int(cluster.psql("SELECT count(*) FROM traffic")[0][0]) > 0
        proxy.stall()
        stalled_at = time.monotonic()
        scrape_until(mon, sender, during, stalled_at + STALL_S)
        held = proxy.held
        proxy.resume()
        scrape_until(mon, sender, after, time.monotonic() + 2)
        sender.stop()
        sent = (sender.bytes, sender.packets)
        sender = None
        t.wait_quiet(quiet_for=0.5)
        final = mon.scrape()
        assert mon.stop() == 0
    finally:
        if sender:
            sender.stop()
        proxy.close()
        sinks.close()

    print("PostgreSQL held for %.0f s (%d bytes held); %s; %s; %s" % (
        STALL_S, held, summary("before", before), summary("stalled", during),
        summary("after", after)))
    # The writer did talk to the server while it stalled, and waited.
    assert held > 0
    assert len(during) >= 50
    slow = [e[1] - e[0] for e in during if e[1] - e[0] > SCRAPE_LIMIT_S]
    assert not slow, slow
    # The counters kept rising with the traffic during the stall.
    assert during[-1][3] > during[0][3]
    truth = {peer: {"tx_bytes": sent[0], "tx_packets": sent[1],
                    "rx_bytes": 0, "rx_packets": 0}}
    got = {}
    for ip, txb, txp, rxb, rxp in cluster.psql(
            "SELECT remote_ip, sum(tx_bytes), sum(tx_packets),"
            " sum(rx_bytes), sum(rx_packets) FROM traffic"
            " GROUP BY remote_ip"):
        got[ip] = {"tx_bytes": int(txb), "tx_packets": int(txp),
                   "rx_bytes": int(rxb), "rx_packets": int(rxp)}
    assert got == truth, (got, truth)
    assert final.per_ip() == truth


def rollups(err):
    """(start, end) of each slow rollup the writer logged (-v), on the
    monotonic clock this process reads too."""
    out = []
    for line in err.splitlines():
        if "rollup:" in line and "monotonic" in line:
            a, b = line.rsplit("monotonic ", 1)[1].rstrip(")").split(" to ")
            out.append((float(a), float(b)))
    return out


def db_rows(path, sql):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_hourly_rollup_of_65k_addresses_does_not_stall_scrapes(
        topo, start_monitor, tmp_path):
    t = topo
    peer = t.peers[0]
    db = str(tmp_path / "traffic.db")
    # The store's clock: 15 s before 2023-11-14 23:00 UTC.
    hour_end = 1700002800
    sinks = [e2e.Sinks(t.pns, [peer], UDP_PORT),
             e2e.Sinks(t.mns, [t.MON4, t.MON6], spoof.SINK_PORT)]
    sender = None
    os.environ["ITM_TEST_CLOCK_START"] = str(hour_end - 15)
    try:
        # -t above anything here: 65,536 series would make every scrape
        # a 50 MB render; the rollup is what is measured.
        mon = start_monitor(t, "-s", "0.5", "--db", db, "--db-interval",
                            "1", "--map-size", "131072", "-v",
                            threshold="100000000")
        t_start = time.monotonic()
        srcs = spoof._sources(N_ADDRS, N_ADDRS // 10)
        rx0 = e2e.link_stats(t.mns, t.mif)["rx"]
        for _ in range(FRAMES_EACH):
            sent_frames = e2e.Forked(
                t.pns, spoof._send_frames, t.pif,
                bytes.fromhex(t.mmac.replace(":", "")),
                bytes.fromhex(t.pmac.replace(":", "")), t.MON4, t.MON6,
                srcs).wait(timeout=120)
            assert sent_frames == N_ADDRS
            # A scrape drains them; the next round lands in a later bucket.
            mon.scrape()
            time.sleep(1.1)
        rx1 = e2e.link_stats(t.mns, t.mif)["rx"]
        assert rx1["packets"] - rx0["packets"] == FRAMES_EACH * N_ADDRS
        sender = Sender(t.mns, t.mon_addr_for(peer), peer, UDP_PORT)
        sender.start()
        log = []
        # Until the hour closed on the store's clock and the rollup ran.
        deadline = t_start + 40
        done = []
        while time.monotonic() < deadline and not done:
            scrape_until(mon, sender, log, time.monotonic() + 0.5)
            done = [r for r in rollups(mon.stderr()) if r[0] > log[0][0]]
        scrape_until(mon, sender, log, time.monotonic() + 1)
        sender.stop()
        sent = (sender.bytes, sender.packets)
        sender = None
        t.wait_quiet(quiet_for=0.5)
        assert mon.stop() == 0
    finally:
        del os.environ["ITM_TEST_CLOCK_START"]
        if sender:
            sender.stop()
        for s in sinks:
            s.close()

    assert done, "no rollup logged: %s" % mon.stderr()[-2000:]
    start, end = max(done, key=lambda r: r[1] - r[0])
    assert end - start > SCRAPE_LIMIT_S, "rollup too quick to tell: %r" % (
        done,)
    during = [e for e in log if e[1] > start and e[0] < end]
    print("rollup of %d addresses: %.3f s on the writer thread; %s; "
          "during it: %s" % (N_ADDRS, end - start, summary("all", log[1:]),
                             summary("rollup", during)))
    assert len(during) >= 3, (start, end, [e[:2] for e in log])
    slow = [e[1] - e[0] for e in during if e[1] - e[0] > SCRAPE_LIMIT_S]
    assert not slow, slow
    assert during[-1][3] > during[0][3]
    # The closed hour was rolled up: every address has its hourly row.
    hour = hour_end - HOUR
    n = db_rows(db, "SELECT count(DISTINCT addr_id) FROM t_hour"
                " WHERE ts = %d" % hour)[0][0]
    assert n == N_ADDRS + 1, n
    # Stored exactly what was sent: one frame per address, the datagrams.
    got = {}
    for ip, tb, tp, rb, rp in db_rows(
            db, "SELECT remote_ip, sum(tx_bytes), sum(tx_packets),"
            " sum(rx_bytes), sum(rx_packets) FROM traffic"
            " GROUP BY remote_ip"):
        got[ip] = (tb, tp, rb, rp)
    truth = {str(a): (0, 0, FRAMES_EACH * (spoof.IP4_LEN if a.version == 4
                                           else spoof.IP6_LEN), FRAMES_EACH)
             for a in srcs}
    truth[peer] = (sent[0], sent[1], 0, 0)
    assert got == truth
