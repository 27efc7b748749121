# SPDX-License-Identifier: MIT
"""A throwaway ClickHouse cluster for the e2e tests: two shards of two
replicas each, four clickhouse-server processes (Debian's 18.16) and one
ZooKeeper (Debian's zookeeper package, its Java server run directly with a
configuration of ours; the system service is neither used nor touched).

Everything lives in one network namespace the harness creates and listens
on that namespace's addresses only: the servers find each other and
ZooKeeper on its loopback (node i: HTTP 19100 + 10 i, native TCP + 1,
interserver HTTP + 2; ZooKeeper 19181).  `attach(ns)` joins another test
namespace to it with a veth pair (10.78.K.1 here, 10.78.K.2 there), so
monitors in their own namespaces reach the nodes by address; nothing is
added to the root namespace.  Data, logs and configuration sit under one
temporary directory (a tmpfs mounted there), unmounted and removed at
teardown with every process killed.

Two users: `default` (no password, the servers' own distributed queries
and DDL, loopback of the namespace only) and `itm` with a password that the
monitors read from a file (password_file=)."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import itm_e2e as e2e

SERVER = "/usr/sbin/clickhouse-server"
ZK_JAR = "/usr/share/java/zookeeper.jar"
JAVA = "/usr/bin/java"
PASSWORD = "s3cret-itm"
CLUSTER = "itm_cluster"
ZK_PORT = 19181
BASE_PORT = 19100

# Trimmed: no query/part log tables, small caches and pools, so that four
# servers start in a few seconds on two cores.
CONFIG = """<yandex>
  <logger><level>warning</level><log>{d}/server.log</log>
    <errorlog>{d}/error.log</errorlog><console>0</console></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>0.0.0.0</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{top}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>16777216</mark_cache_size>
  <uncompressed_cache_size>16777216</uncompressed_cache_size>
  <max_concurrent_queries>40</max_concurrent_queries>
  <macros><shard>{shard}</shard><replica>r{replica}</replica></macros>
  <remote_servers><{cluster}>
{shards}
  </{cluster}></remote_servers>
  <zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node>
    <session_timeout_ms>4000</session_timeout_ms></zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
"""

SHARD = """    <shard><internal_replication>true</internal_replication>
{replicas}
    </shard>"""

REPLICA = """      <replica><host>127.0.0.1</host><port>{tcp}</port>
      </replica>"""

USERS = """<yandex>
  <profiles><default>
    <background_pool_size>4</background_pool_size>
    <background_schedule_pool_size>4</background_schedule_pool_size>
    <connect_timeout_with_failover_ms>200</connect_timeout_with_failover_ms>
  </default></profiles>
  <users>
    <default><password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <itm><password>{pw}</password>
      <networks><ip>0.0.0.0/0</ip></networks>
      <profile>default</profile><quota>default</quota></itm>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""

ZOO_CFG = """tickTime=500
initLimit=10
syncLimit=5
dataDir={d}/data
clientPort={port}
clientPortAddress=127.0.0.1
admin.enableServer=false
maxSessionTimeout=20000
"""

_seq = [0]


def available():
    return all(os.access(p, os.X_OK) for p in (SERVER, JAVA)) and \
        os.access(ZK_JAR, os.R_OK)


def _popen(ns, argv, cwd, log):
    with open(log, "ab") as out:
        return subprocess.Popen(
            ["nsenter", "--net=/run/netns/%s" % ns] + argv, cwd=cwd,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _tail(path, n):
    """The last n characters of a server's log, "" when there is none."""
    try:
        with open(path) as f:
            return f.read()[-n:]
    except OSError:
        return ""


def _kill(proc, sig):
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


class ZooKeeper:
    def __init__(self, ns, top, port=ZK_PORT):
        self.ns = ns
        self.port = port
        self.dir = os.path.join(top, "zk")
        os.makedirs(os.path.join(self.dir, "data"))
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        with open(self.cfg, "w") as f:
            f.write(ZOO_CFG.format(d=self.dir, port=port))
        self.proc = None

    def start(self, timeout=60):
        # A small heap, the serial collector and the client compiler: the
        # JVM starts in well under a second.
        self.proc = _popen(self.ns, [
            JAVA, "-Xms16m", "-Xmx96m", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-Xss512k",
            "-Dzookeeper.log.dir=%s" % self.dir,
            "-Dlog4j.configuration=file:/dev/null", "-cp", ZK_JAR,
            "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg],
            self.dir, os.path.join(self.dir, "zk.out"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("zookeeper exited: %s" % self._out())
            if self.session_ok():
                return self
            time.sleep(0.05)
        raise RuntimeError("zookeeper did not answer: %s" % self._out())

    def session_ok(self):
        """A session handshake (ConnectRequest: protocol 0, no zxid, a
        6 s timeout, no session, an empty password) answered in time.
        Not the four-letter `ruok`: that answers long before a cold JVM
        has compiled the session path, and clickhouse-server 18.16 gives
        ZooKeeper one second to answer; its DDL worker, refused at start,
        crashes the server (SIGSEGV) at the first ON CLUSTER statement."""
        s = e2e.ns_socket(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        req = struct.pack(">iqiqi16s", 0, 0, 6000, 0, 16, b"")
        try:
            s.settimeout(0.5)
            s.connect(("127.0.0.1", self.port))
            s.sendall(struct.pack(">i", len(req)) + req)
            return len(s.recv(64)) >= 4
        except OSError:
            return False
        finally:
            s.close()

    def _out(self):
        return _tail(os.path.join(self.dir, "zk.out"), 2000)

    def stop(self):
        _kill(self.proc, signal.SIGKILL)


class Node:
    """One clickhouse-server: shard (1-based), replica (1-based)."""

    def __init__(self, cluster, index, shard, replica):
        self.cluster = cluster
        self.ns = cluster.ns
        self.index = index
        self.shard = shard
        self.replica = replica
        self.name = "s%dr%d" % (shard, replica)
        self.http = BASE_PORT + 10 * index
        self.tcp = self.http + 1
        self.inter = self.http + 2
        self.dir = os.path.join(cluster.dir, self.name)
        for sub in ("data", "tmp", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub))
        self.config = os.path.join(self.dir, "config.xml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(
                d=self.dir, top=cluster.dir, http=self.http, tcp=self.tcp,
                inter=self.inter, shard=shard, replica=replica,
                cluster=cluster.name, shards=cluster.shards_xml(),
                zk=cluster.zk.port))
        self.proc = None

    def __repr__(self):
        return "<node %s :%d>" % (self.name, self.http)

    def launch(self):
        self.proc = _popen(self.ns, [SERVER, "--config-file=%s" %
                                     self.config], self.dir,
                           os.path.join(self.dir, "stdout.log"))
        return self

    def wait_up(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("clickhouse-server %s exited: %s" %
                                   (self.name, self.errlog()))
            try:
                self.query("SELECT 1")
                return self
            except (OSError, RuntimeError):
                time.sleep(0.1)
        raise RuntimeError("clickhouse-server %s did not answer in %d s: %s"
                           % (self.name, timeout, self.errlog()))

    def start(self, timeout=90):
        return self.launch().wait_up(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, wait=True):
        """SIGTERM: a clean shutdown (wait=False: only the signal)."""
        if not wait:
            if self.running():
                self.proc.send_signal(signal.SIGTERM)
            return
        _kill(self.proc, signal.SIGTERM)

    def kill(self):
        """SIGKILL: whatever it was doing is cut where it was."""
        _kill(self.proc, signal.SIGKILL)

    def errlog(self):
        return _tail(os.path.join(self.dir, "error.log"), 3000)

    def url(self, db="itm", via=None, cluster=True):
        """What a monitor takes: the node's address as seen from an
        attached namespace (`via`, from attach()), or loopback for a
        process inside the cluster's namespace; no password in it."""
        return "clickhouse://itm@%s:%d/%s?%spassword_file=%s" % (
            via or "127.0.0.1", self.http, db,
            "cluster=%s&" % self.cluster.name if cluster else "",
            self.cluster.pwfile)

    def post(self, sql, body=b"", db="default", user="default",
             settings=None, timeout=60):
        """Raw HTTP interface: (status, reply bytes)."""
        params = {"query": sql, "database": db, "user": user}
        if user == "itm":
            params["password"] = PASSWORD
        params.update(settings or {})
        req = urllib.request.Request("http://127.0.0.1:%d/?%s" % (
            self.http, urllib.parse.urlencode(params)), data=body)
        with e2e.in_netns(self.ns):
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

    def query(self, sql, db="default", settings=None, timeout=60):
        """Rows of a statement, TabSeparated, as lists of strings; a
        statement that returns nothing gives []."""
        if sql.lstrip().upper().startswith(("SELECT", "SHOW", "DESCRIBE",
                                            "EXISTS", "WITH")):
            sql += " FORMAT TabSeparated"
        status, out = self.post(sql, db=db, settings=settings,
                                timeout=timeout)
        if status != 200:
            raise RuntimeError("ClickHouse %s: %s" % (self.name,
                                                      out.decode()))
        return [line.split("\t") for line in out.decode().splitlines()]


class Cluster:
    """2 shards x 2 replicas (node order: s1r1, s1r2, s2r1, s2r2)."""

    def __init__(self, shards=2, replicas=2, name=CLUSTER):
        _seq[0] += 1
        self.name = name
        self.ns = e2e.NS_PREFIX + "%d-chc%d" % (os.getpid(), _seq[0])
        self.dir = tempfile.mkdtemp(prefix="itm-chc-")
        # On a tmpfs of its own: four servers writing a part per insert
        # and table leave hundreds of thousands of small files, which
        # take minutes to remove from a disk on a busy machine and no
        # time to unmount.
        e2e.sh("mount", "-t", "tmpfs", "-o", "size=2g,mode=0700",
               "itm-chc", self.dir)
        self.pwfile = os.path.join(self.dir, "password")
        with open(self.pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.pwfile, 0o600)
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write(USERS.format(pw=PASSWORD))
        self.layout = [(s, r) for s in range(1, shards + 1)
                       for r in range(1, replicas + 1)]
        self.ns_created = False
        self.links = 0
        self.zk = None
        self.nodes = []
        self.start_seconds = None

    def shards_xml(self):
        shards = {}
        for i, (s, r) in enumerate(self.layout):
            shards.setdefault(s, []).append(
                REPLICA.format(tcp=BASE_PORT + 10 * i + 1))
        return "\n".join(SHARD.format(replicas="\n".join(v))
                         for _, v in sorted(shards.items()))

    def start(self):
        t0 = time.monotonic()
        e2e.sh("ip", "netns", "add", self.ns)
        self.ns_created = True
        e2e.nsx(self.ns, "ip", "link", "set", "lo", "up")
        self.zk = ZooKeeper(self.ns, self.dir)
        self.nodes = [Node(self, i, s, r)
                      for i, (s, r) in enumerate(self.layout)]
        self.zk.start()
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait_up()
        self._check_ddl()
        self.start_seconds = time.monotonic() - t0
        return self

    def _check_ddl(self, tries=3):
        """One ON CLUSTER statement that every node's DDL worker must run:
        a server whose worker could not reach ZooKeeper at start dies here
        (see ZooKeeper.session_ok) and is started again."""
        for _ in range(tries):
            try:
                self.nodes[0].query(
                    "CREATE DATABASE IF NOT EXISTS harness_check"
                    " ON CLUSTER %s" % self.name,
                    settings={"distributed_ddl_task_timeout": "20"})
            except (OSError, RuntimeError):
                pass
            dead = [n for n in self.nodes if not n.running()]
            if not dead and all(n.query(
                    "SELECT count() FROM system.databases"
                    " WHERE name = 'harness_check'") == [["1"]]
                    for n in self.nodes):
                return
            for n in dead:
                n.start()
        raise RuntimeError("ON CLUSTER DDL does not reach every node: %s" %
                           "; ".join(n.errlog() for n in self.nodes))

    def stop_nodes(self, nodes):
        """SIGTERM to all of them at once, then wait for each."""
        for n in nodes:
            n.stop(wait=False)
        for n in nodes:
            n.stop()

    def start_nodes(self, nodes):
        for n in nodes:
            n.launch()
        for n in nodes:
            n.wait_up()

    def node(self, shard, replica):
        return self.nodes[self.layout.index((shard, replica))]

    def shard_nodes(self, shard):
        return [n for n in self.nodes if n.shard == shard]

    def attach(self, ns):
        """A veth pair between the cluster's namespace and `ns`: returns
        the cluster side's address as seen from `ns`."""
        self.links += 1
        k = self.links
        here, there = "chc%d" % k, "chc%dx" % k
        e2e.sh("ip", "link", "add", here, "netns", self.ns, "type", "veth",
               "peer", "name", there, "netns", ns)
        for n, dev, addr in ((self.ns, here, "10.78.%d.1/30" % k),
                             (ns, there, "10.78.%d.2/30" % k)):
            e2e.nsx(n, "sysctl", "-q", "-w",
                    "net.ipv6.conf.%s.disable_ipv6=1" % dev)
            e2e.nsx(n, "ip", "addr", "add", addr, "dev", dev)
            e2e.nsx(n, "ip", "link", "set", dev, "up")
        return "10.78.%d.1" % k

    def replicated_tables(self, db):
        return [r[0] for r in self.nodes[0].query(
            "SELECT name FROM system.tables WHERE database = '%s'"
            " AND engine LIKE 'Replicated%%'" % db)]

    def wait_writable(self, timeout=60):
        """Every running node answers and none of its replicated tables
        is read-only: a replica killed with SIGKILL stays read-only after
        its start until ZooKeeper expires its old session."""
        deadline = time.monotonic() + timeout
        err = None
        while time.monotonic() < deadline:
            try:
                if all(n.query("SELECT count() FROM system.replicas WHERE"
                               " is_readonly OR is_session_expired") ==
                       [["0"]] for n in self.nodes if n.running()):
                    return
            except (OSError, RuntimeError) as e:
                err = e
            time.sleep(0.2)
        raise TimeoutError("replicas still read-only after %d s (%s)" %
                           (timeout, err))

    def sync(self, db, tables=None, timeout=120):
        """SYSTEM SYNC REPLICA on every running node for every replicated
        table of `db`: afterwards each replica holds what its shard
        has."""
        self.wait_writable(timeout)
        tables = tables or self.replicated_tables(db)
        for n in self.nodes:
            if not n.running():
                continue
            for t in tables:
                n.query("SYSTEM SYNC REPLICA %s.%s" % (db, t),
                        settings={"receive_timeout": str(timeout)},
                        timeout=timeout + 10)

    def teardown(self):
        for n in self.nodes:
            n.kill()
        if self.zk:
            self.zk.stop()
        if self.ns_created:
            e2e.sh("ip", "netns", "del", self.ns, check=False)
        e2e.sh("umount", self.dir, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
