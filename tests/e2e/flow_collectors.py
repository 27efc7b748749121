# SPDX-License-Identifier: MIT
"""Real flow collectors for the IPFIX tests, run on loopback inside the
monitor's test namespace: Debian's nfcapd (nfdump), pmacct's nfacctd, and
a TCP collector built on python3-ipfix (an independent IPFIX
implementation).  Each returns the records it kept; sum_records() turns
them into the per-address {tx,rx}_{bytes,packets} table the other e2e
tests use."""

import os
import signal
import socket
import subprocess
import threading
import time

import itm_e2e as e2e


def _wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError("%s not ready after %ss" % (what, timeout))


def _udp_bound(ns, port):
    out = e2e.nsx(ns, "ss", "-H", "-u", "-l", "-n", "sport", "=",
                  ":%d" % port).stdout
    return bool(out.strip())


def sum_records(records):
    """records: dicts with dir ('tx'/'rx'), remote, bytes, packets.
    Aggregate records (remote None) are left out."""
    out = {}
    for r in records:
        if r["remote"] is None:
            continue
        e2e.add_counts(out, r["remote"], r["dir"], r["bytes"], r["packets"])
    return out


class _Daemon:
    def __init__(self, ns, port, workdir, name):
        self.ns = ns
        self.port = port
        self.dir = workdir
        self.name = name
        os.makedirs(workdir, exist_ok=True)
        self.log_path = os.path.join(workdir, name + ".log")
        self.proc = None

    def _spawn(self, argv):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["nsenter", "--net=/run/netns/%s" % self.ns] + argv,
            stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=self.dir)
        try:
            _wait_for(lambda: self.proc.poll() is not None or
                      _udp_bound(self.ns, self.port), 15, self.name)
        except TimeoutError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited: %s" % (self.name, self.log()))
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    STOP_SIGNAL = signal.SIGTERM

    def stop(self):
        """Graceful stop (both collectors write what they hold), wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(self.STOP_SIGNAL)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        self.proc = None


class Nfcapd(_Daemon):
    """nfcapd -w DIR on 127.0.0.1:PORT; records() reads the files with
    nfdump after stop()."""

    FMT = "fmt:%sa|%da|%dir|%in|%out|%pkt|%byt|%odid|%ts|%te|%sas|%das"

    def __init__(self, ns, port, workdir):
        super().__init__(ns, port, workdir, "nfcapd")
        self.flowdir = os.path.join(workdir, "flows")
        os.makedirs(self.flowdir, exist_ok=True)

    def start(self):
        # -t: one file for the whole test; SIGTERM closes it.
        return self._spawn(["nfcapd", "-w", self.flowdir, "-b", "127.0.0.1",
                            "-p", str(self.port), "-t", "3600"])

    def raw(self):
        files = [f for f in os.listdir(self.flowdir)
                 if f.startswith("nfcapd.") and "current" not in f]
        if not files:
            return []
        p = e2e.sh("nfdump", "-R", self.flowdir, "-N", "-q", "-o", self.FMT)
        rows = []
        for line in p.stdout.splitlines():
            f = [x.strip() for x in line.split("|")]
            if len(f) < 12:
                continue
            rows.append(f)
        return rows

    def records(self):
        out = []
        for sa, da, d, i, o, pkt, byt, odid, ts, te, sas, das in self.raw():
            egress = d.upper().startswith("E")
            remote = da if egress else sa
            if remote in ("0.0.0.0", "::"):
                remote = None
            out.append({"dir": "tx" if egress else "rx", "remote": remote,
                        "bytes": int(byt), "packets": int(pkt),
                        "in": int(i), "out": int(o), "odid": int(odid, 0),
                        "ts": ts, "te": te,
                        # the remote side's AS (IE 17 on tx, 16 on rx)
                        "remote_as": int(das if egress else sas),
                        "other_as": int(sas if egress else das)})
        return out


class Nfacctd(_Daemon):
    """pmacct's nfacctd with the print plugin writing CSV on exit."""

    STOP_SIGNAL = signal.SIGINT  # pmacct: purge the caches and exit

    def __init__(self, ns, port, workdir):
        super().__init__(ns, port, workdir, "nfacctd")
        self.csv = os.path.join(workdir, "nfacctd.csv")

    def start(self):
        conf = os.path.join(self.dir, "nfacctd.conf")
        with open(conf, "w") as f:
            f.write("daemonize: false\n"
                    "nfacctd_ip: 127.0.0.1\n"
                    "nfacctd_port: %d\n"
                    "nfacctd_time_new: true\n"
                    "pidfile: %s\n"
                    "plugins: print[p]\n"
                    "aggregate[p]: src_host, dst_host, in_iface, out_iface\n"
                    "print_output[p]: csv\n"
                    "print_output_file[p]: %s\n"
                    "print_output_file_append[p]: true\n"
                    "print_refresh_time[p]: 1\n"
                    % (self.port, os.path.join(self.dir, "nfacctd.pid"),
                       self.csv))
        return self._spawn(["nfacctd", "-f", conf])

    def records(self):
        if not os.path.exists(self.csv):
            return []
        out = []
        with open(self.csv) as f:
            header = None
            for line in f:
                cols = line.strip().split(",")
                if cols and cols[0] == "IN_IFACE":
                    header = cols
                    continue
                if not header or len(cols) != len(header):
                    continue
                r = dict(zip(header, cols))
                inif, outif = int(r["IN_IFACE"]), int(r["OUT_IFACE"])
                egress = outif != 0
                remote = r["DST_IP"] if egress else r["SRC_IP"]
                if remote in ("0.0.0.0", "::"):
                    remote = None
                out.append({"dir": "tx" if egress else "rx",
                            "remote": remote, "bytes": int(r["BYTES"]),
                            "packets": int(r["PACKETS"]), "in": inif,
                            "out": outif})
        return out


class TcpIpfixCollector:
    """Accepts IPFIX over TCP on 127.0.0.1:port in ns and decodes every
    message with python3-ipfix; templates are per connection, as RFC 7011
    says for TCP."""

    def __init__(self, ns, port):
        import ipfix.ie
        import ipfix.reader
        ipfix.ie.use_iana_default()
        self._reader = ipfix.reader
        self.ns = ns
        self.port = port
        self.records_ = []
        self.connections = 0
        self.errors = []
        self.lock = threading.Lock()
        self.sock = None
        self.threads = []
        self.conns = []

    def start(self):
        self.sock = e2e.ns_socket(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        srv = self.sock
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        stream = conn.makefile("rb")
        r = self._reader.from_stream(stream)
        try:
            for rec in r.namedict_iterator():
                with self.lock:
                    self.records_.append(dict(rec))
        except Exception as e:  # noqa: BLE001 - reported by the test
            with self.lock:
                self.errors.append(repr(e))
        finally:
            stream.close()
            conn.close()

    def stop(self):
        """Stop listening and drop every connection (collector down)."""
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join(self, timeout=10):
        """Wait until every connection was read to its end."""
        for t in self.threads:
            t.join(timeout)

    def records(self):
        out = []
        with self.lock:
            recs = list(self.records_)
        for r in recs:
            egress = r.get("flowDirection") == 1
            if "destinationIPv4Address" in r or "destinationIPv6Address" in r:
                remote = str(r.get("destinationIPv4Address") or
                             r.get("destinationIPv6Address"))
            elif "sourceIPv4Address" in r or "sourceIPv6Address" in r:
                remote = str(r.get("sourceIPv4Address") or
                             r.get("sourceIPv6Address"))
            else:
                remote = None
            if remote in ("0.0.0.0", "::"):  # an aggregate
                remote = None
            out.append({"dir": "tx" if egress else "rx", "remote": remote,
                        "bytes": r["octetDeltaCount"],
                        "packets": r["packetDeltaCount"], "raw": r})
        return out
