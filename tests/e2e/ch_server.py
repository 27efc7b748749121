# SPDX-License-Identifier: MIT
"""A throwaway ClickHouse server (Debian's clickhouse-server) for the e2e
tests: its own configuration, data and log directories under a temporary
directory, started by the test inside a test network namespace so that it
listens on that namespace's loopback only (HTTP, and HTTPS on port + 1 with a
certificate for 127.0.0.1 made here; nothing in the root namespace),
killed and removed at teardown.  One user, `itm`, with a
password: the monitors read it from a file (password_file=)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import itm_e2e as e2e

SERVER = "/usr/sbin/clickhouse-server"
PASSWORD = "s3cret-itm"

CONFIG = """<yandex>
  <logger><level>warning</level><log>{d}/server.log</log>
    <errorlog>{d}/error.log</errorlog><console>0</console></logger>
  <http_port>{port}</http_port>
  <https_port>{tls_port}</https_port>
  <openSSL><server><certificateFile>{d}/cert.pem</certificateFile>
    <privateKeyFile>{d}/key.pem</privateKeyFile>
    <verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile>
    <disableProtocols>sslv2,sslv3</disableProtocols></server></openSSL>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>20</max_concurrent_queries>
</yandex>
"""

USERS = """<yandex>
  <profiles><default></default></profiles>
  <users><itm><password>{pw}</password>
    <networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></itm></users>
  <quotas><default></default></quotas>
</yandex>
"""


def available():
    return os.access(SERVER, os.X_OK)


def started(topo, port):
    """A server in the test's monitor namespace, or the test fails."""
    import pytest
    if not available():
        pytest.fail("clickhouse-server missing (apt-get install "
                    "clickhouse-server)")
    return Server(topo.mns, port=port).start()


class Server:
    def __init__(self, ns, port=18123):
        self.ns = ns
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="itm-ch-")
        self.pwfile = os.path.join(self.dir, "password")
        self.cert = os.path.join(self.dir, "cert.pem")
        e2e.sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
               "-keyout", os.path.join(self.dir, "key.pem"), "-out",
               self.cert, "-days", "2", "-subj", "/CN=127.0.0.1",
               "-addext", "subjectAltName=IP:127.0.0.1")
        with open(os.path.join(self.dir, "config.xml"), "w") as f:
            f.write(CONFIG.format(d=self.dir, port=port, tls_port=port + 1))
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write(USERS.format(pw=PASSWORD))
        with open(self.pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.pwfile, 0o600)
        self.proc = None
        self.start_seconds = None

    def start(self, timeout=60):
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            ["nsenter", "--net=/run/netns/%s" % self.ns, SERVER,
             "--config-file=%s" % os.path.join(self.dir, "config.xml")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=self.dir)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("clickhouse-server exited: %s" %
                                   self._errlog())
            try:
                self.query("SELECT 1")
                self.start_seconds = time.monotonic() - t0
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("clickhouse-server did not answer in %d s: %s" %
                           (timeout, self._errlog()))

    def _errlog(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def url(self, db="itm"):
        """What the monitor takes: no password in it (see password_file)."""
        return "clickhouse://itm@127.0.0.1:%d/%s?password_file=%s" % (
            self.port, db, self.pwfile)

    def tls_url(self, db="itm", ca=True):
        """The same over HTTPS, the test's certificate as the only CA."""
        return "clickhouse://itm@127.0.0.1:%d/%s?secure=1&password_file=%s%s" % (
            self.port + 1, db, self.pwfile,
            "&sslrootcert=%s" % self.cert if ca else "")

    def post(self, sql, body=b"", db="itm", query_id=None):
        """Raw HTTP interface: (status, reply bytes)."""
        params = {"query": sql, "database": db, "user": "itm",
                  "password": PASSWORD}
        if query_id:
            params["query_id"] = query_id
        q = urllib.parse.urlencode(params)
        req = urllib.request.Request(
            "http://127.0.0.1:%d/?%s" % (self.port, q), data=body)
        with e2e.in_netns(self.ns):
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

    def query(self, sql, db="default"):
        """Rows of a statement, TabSeparated, as lists of strings."""
        status, out = self.post(sql + " FORMAT TabSeparated", db=db)
        if status != 200:
            raise RuntimeError("ClickHouse: %s" % out.decode())
        return [line.split("\t") for line in out.decode().splitlines()]

    def kill(self):
        """SIGKILL: whatever it was inserting is cut where it was."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def teardown(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class LossyProxy:
    """An HTTP relay in the server's namespace, one request per
    connection, that loses answers on purpose: for the INSERTs numbered in
    `lose_answer` it forwards the request and throws the server's answer
    away (stored, but the client never hears so); for those in
    `lose_request` it throws the request away (never stored).  Either
    way the client sees a connection closed without an answer.  `lost`
    lists (what, number, phase): phase 1 stages a flush, 2 promotes it
    (the database must be named `itm`).  Before the INSERTs numbered in
    `restart_before` it kills the server (SIGKILL) and starts it again,
    then forwards them; `answers` lists (number, phase, HTTP status) of
    every INSERT answered."""

    def __init__(self, server, port, lose_answer=(), lose_request=(),
                 restart_before=()):
        self.server = server
        self.lose_answer = set(lose_answer)
        self.lose_request = set(lose_request)
        self.restart_before = set(restart_before)
        self.inserts = 0
        self.lost = []
        self.restarted = []
        self.answers = []
        self.sock = e2e.ns_socket(server.ns, socket.AF_INET,
                                  socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.3)
        self.port = port
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def url(self, db="itm"):
        return self.server.url(db).replace(":%d/" % self.server.port,
                                           ":%d/" % self.port)

    @staticmethod
    def _read_request(c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(body) < n:
            chunk = c.recv(65536)
            if not chunk:
                return None
            body += chunk
        return head, body

    def _forward(self, head, body):
        lines = [x for x in head.split(b"\r\n")
                 if not x.lower().startswith(b"connection:")]
        req = b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n"
        s = e2e.ns_socket(self.server.ns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", self.server.port))
            s.sendall(req + body)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out
                out += chunk
        finally:
            s.close()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(30)
            with c:
                req = self._read_request(c)
                if req is None:
                    continue
                head, body = req
                first = head.split(b"\r\n", 1)[0]
                sql = urllib.parse.unquote_to_bytes(first)
                insert = b"INSERT" in sql
                # Phase 2 (promote) or phase 1 (stage) of a flush.
                phase = 2 if b"INSERT INTO itm.itm_data" in sql else 1
                n = None
                if insert:
                    self.inserts += 1
                    n = self.inserts
                if n in self.lose_request:
                    self.lost.append(("request", n, phase))
                    continue
                if n in self.restart_before:
                    self.server.kill()
                    self.server.start()
                    self.restarted.append((n, phase))
                try:
                    answer = self._forward(head, body)
                except OSError:
                    continue  # the server is down: no answer either
                if n is not None:
                    status = answer.split(b"\r\n", 1)[0].split(b" ")
                    self.answers.append((n, phase, int(status[1])
                                         if len(status) > 1 else 0))
                if n in self.lose_answer:
                    self.lost.append(("answer", n, phase))
                    continue
                c.sendall(answer)

    def close(self):
        self.stop = True
        self.sock.close()
        self.thread.join(timeout=10)
