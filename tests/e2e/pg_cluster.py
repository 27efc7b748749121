# SPDX-License-Identifier: MIT
"""A throwaway PostgreSQL 15 cluster for the e2e tests: initdb under a
temporary directory owned by the postgres system user, the server
listening only on a Unix socket in that directory (no TCP at all), stopped
and removed at teardown.  The monitors reach it through the socket path,
which works from any network namespace."""

import os
import shutil
import tempfile

import itm_e2e as e2e

PG_BIN = "/usr/lib/postgresql/15/bin"


def available():
    return os.access(os.path.join(PG_BIN, "initdb"), os.X_OK)


class Cluster:
    def __init__(self, port=54329):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="itm-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o755)
        self.running = False

    def _as_pg(self, *argv, check=True):
        return e2e.sh("runuser", "-u", "postgres", "--",
                      os.path.join(PG_BIN, argv[0]), *argv[1:],
                      check=check, cwd=self.dir)

    def init(self):
        self._as_pg("initdb", "-D", self.data, "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--no-locale")
        return self

    def start(self):
        self._as_pg("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-o",
                    "-k %s -c listen_addresses='' -p %d" %
                    (self.dir, self.port), "start")
        self.running = True
        return self

    def stop(self, mode="fast"):
        if self.running:
            self._as_pg("pg_ctl", "-D", self.data, "-m", mode, "-w",
                        "stop", check=False)
            self.running = False

    def url(self, db="postgres"):
        """libpq URI with the socket directory as host."""
        return "postgresql:///%s?host=%s&port=%d&user=postgres" % (
            db, self.dir, self.port)

    def psql(self, sql, db="postgres"):
        p = e2e.sh("psql", "-X", "-q", "-A", "-t", "-F", "|", "-h",
                   self.dir, "-p", str(self.port), "-U", "postgres", "-d",
                   db, "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line.split("|") for line in p.stdout.splitlines() if line]

    def teardown(self):
        self.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
