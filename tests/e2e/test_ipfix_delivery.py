# SPDX-License-Identifier: MIT
"""IPFIX delivery when the collector dies: over TCP the monitor keeps every
data message until the collector's kernel acknowledged it (SIOCOUTQ),
writes it again on the next connection, holds the flushes while nobody
listens, and at exit counts what was never acknowledged as not delivered
(one warning, the exit line, each record at debug level).  The TCP
collector is python3-ipfix (nfcapd and nfacctd take UDP only), killed at
random instants: closing its sockets as a killed process would.

Ground truth: what the senders handed to the stack, per address and
direction.  Per address: what every collector instance decoded + what the
monitor names as not delivered == the truth, exactly."""

import random
import re
import socket
import threading
import time

import flow_collectors as fc
import itm_e2e as e2e

UDP_PORT = 5001
IPFIX_PORT = 4741
FLUSH = "0.3"

NOT_DELIVERED = re.compile(
    r"not delivered: (tx|rx) (\S+) ifindex \d+: (\d+) bytes, (\d+) packets")
EXIT_LINE = re.compile(r"IPFIX: (\d+) records in .* (\d+) records not "
                       r"delivered")
WARN_LINE = re.compile(r"(\d+) records \((\d+) bytes, (\d+) packets\) were "
                       r"not acknowledged or not sent")
RESENT_LINE = re.compile(r"sent again (\d+) records")


class _Traffic:
    """UDP both ways with every peer from a thread until stopped, counting
    what the sockets took (the ground truth)."""

    def __init__(self, t, seed):
        self.t = t
        self.rng = random.Random(seed)
        self.truth = {}
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t = self.t
        while not self.stop_ev.is_set():
            for peer in t.peers:
                local = t.mon_addr_for(peer)
                n = self.rng.randint(1, 3)
                sizes = [self.rng.randint(1, 1200) for _ in range(n)]
                b, p = e2e.udp_send(t.mns, local, peer, UDP_PORT, sizes)
                e2e.add_counts(self.truth, peer, "tx", b, p)
                b, p = e2e.udp_send(t.pns, peer, local, UDP_PORT, sizes[:1])
                e2e.add_counts(self.truth, peer, "rx", b, p)
            time.sleep(0.02)

    def start(self):
        self.th.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.th.join(10)


class _GatedStream:
    """A socket's stream that the collector stops reading while gate is
    clear: a hung collector, whose tiny receive window leaves what the
    monitor writes unacknowledged in the monitor's send queue."""

    def __init__(self, stream, gate):
        self.stream = stream
        self.gate = gate

    def read(self, n=-1):
        self.gate.wait()
        return self.stream.read(n)

    def close(self):
        self.stream.close()


class _HangingCollector(fc.TcpIpfixCollector):
    RCVBUF = 2048

    def __init__(self, ns, port):
        super().__init__(ns, port)
        self.gate = threading.Event()
        self.gate.set()

    def start(self):
        self.sock = e2e.ns_socket(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by the accepted connections: a window of ~2 kB.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _serve(self, conn):
        stream = _GatedStream(conn.makefile("rb"), self.gate)
        r = self._reader.from_stream(stream)
        try:
            for rec in r.namedict_iterator():
                with self.lock:
                    self.records_.append(dict(rec))
        except Exception as e:  # noqa: BLE001 - a kill cuts a message
            with self.lock:
                self.errors.append(repr(e))
        finally:
            stream.close()
            conn.close()


class _Collectors:
    """Successive instances of the TCP collector on one port.  kill()
    closes its sockets as a killed process would; what its kernel had
    acknowledged is still read (SHUT_RD keeps the receive queue), what it
    had not is reset."""

    def __init__(self, ns):
        self.ns = ns
        self.done = []
        self.cur = None

    def start(self):
        self.cur = _HangingCollector(self.ns, IPFIX_PORT).start()

    def hang(self):
        self.cur.gate.clear()

    def kill(self):
        if self.cur:
            self.cur.stop()
            self.cur.gate.set()
            self.cur.join()
            self.done.append(self.cur)
            self.cur = None

    def records(self):
        recs = []
        for c in self.done:
            recs += c.records()
        return recs


def _not_delivered(err):
    out = {}
    for d, addr, b, p in NOT_DELIVERED.findall(err):
        if addr != "aggregate":
            e2e.add_counts(out, addr, d, int(b), int(p))
    return out, len(NOT_DELIVERED.findall(err))


def _run(t, start_monitor, rng, rounds, restart_last):
    """One monitor: `rounds` collector deaths at random instants, each
    followed by a restart; then a last death, with (restart_last) or
    without a restarted collector before the monitor stops, and the stop
    a random 0-0.45 s later (before or after the next flush)."""
    cols = _Collectors(t.mns)
    cols.start()
    peers = (e2e.Sinks(t.pns, t.peers, UDP_PORT),
             e2e.Sinks(t.mns, t.mon_addrs, UDP_PORT))
    traffic = None
    try:
        mon = start_monitor(t, "-v", "-s", "0.1", "--ipfix",
                            "127.0.0.1:%d" % IPFIX_PORT,
                            "--ipfix-transport", "tcp",
                            "--ipfix-interval", FLUSH)
        traffic = _Traffic(t, rng.random()).start()
        for r in range(rounds):
            time.sleep(rng.uniform(0.1, 0.9))
            if r % 2:
                # Hung first: the monitor's last flushes wait unacknowledged.
                cols.hang()
                time.sleep(rng.uniform(1.0, 1.8))
            cols.kill()
            time.sleep(rng.uniform(0.0, 0.8))
            cols.start()
        time.sleep(rng.uniform(0.1, 0.6))
        m = mon.scrape()
        err_mid = mon.stderr()
        if not restart_last:
            cols.hang()
            time.sleep(rng.uniform(0.5, 1.5))
        cols.kill()
        if restart_last:
            time.sleep(rng.uniform(0.0, 0.3))
            cols.start()
        time.sleep(rng.uniform(0.0, 0.45))
        traffic.stop()
        t.wait_quiet(quiet_for=0.3)
        assert mon.stop() == 0
        cols.kill()
    finally:
        if traffic:
            traffic.stop()
        for p in peers:
            p.close()
        cols.kill()
    err = mon.stderr()
    truth = traffic.truth

    # The counter and the log agree while it runs: TCP loses nothing
    # before the exit, and every resend is logged.
    assert m.value("ip_traffic_ipfix_records_lost_total") == 0, err_mid
    assert m.value("ip_traffic_ipfix_records_resent_total") == \
        sum(int(n) for n in RESENT_LINE.findall(err_mid)), err_mid

    lost, n_lost = _not_delivered(err)
    ex = EXIT_LINE.findall(err)
    assert len(ex) == 1, err
    assert int(ex[0][1]) == n_lost, err
    warn = WARN_LINE.findall(err)
    if n_lost:
        assert len(warn) == 1, err
        assert int(warn[0][0]) == n_lost
    else:
        assert not warn, err
    got = fc.sum_records(cols.records())
    assert e2e.merge_counts(got, lost) == truth, err
    resent = sum(int(n) for n in RESENT_LINE.findall(err))
    return (n_lost, sum(v["tx_bytes"] + v["rx_bytes"] for v in lost.values()),
            resent, err.count("connected again"))


def test_tcp_collector_killed(topo, start_monitor):
    """10 collector deaths at random instants under steady traffic, then
    three short runs ending with the collector dead: with and without a
    flush after its death before the monitor stops."""
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print("seed", seed)
    results = [_run(topo, start_monitor, rng, rounds=10, restart_last=True)]
    for _ in range(3):
        results.append(_run(topo, start_monitor, rng, rounds=1,
                            restart_last=False))
    print("per run (records and bytes not delivered, records resent, "
          "reconnections):", results)
    # A hung collector leaves flushes unacknowledged: they went again.
    assert results[0][2] > 0, results
    # A run ending with the collector dead and traffic flowing has
    # something the collector never acknowledged.
    assert any(r[0] for r in results[1:]), results
