#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rollup cost of the store on PostgreSQL, against SQLite as the baseline
measured in the same run (issue 13):

    sudo bench/pg_rollup.py [ADDRESSES [FLUSHES]]      (4000, 60)

Writes FLUSHES flushes of ADDRESSES addresses (about 3/4 of them active
each time) one minute apart into one hour, without maintenance, through
build/tests/pg_drive into an SQLite file and into a throwaway PostgreSQL 15
cluster (Unix socket, as tests/e2e/test_pg.py starts it); then times the
one maintenance call that rolls that hour up (store_maintain(), wall time
of the pg_drive --maintain-at process, connection included).  Needs root
(the cluster runs as the postgres user)."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import itm_e2e as e2e  # noqa: E402
import pg_cluster as pc  # noqa: E402

START = 1700006400  # on an hour


def drive():
    return os.path.join(os.path.dirname(os.path.abspath(e2e.default_bin())),
                        "tests", "pg_drive")


def run(db, host, addrs, flushes):
    t = time.monotonic()
    e2e.sh(drive(), "--db", db, "--host", host, "--start", str(START),
           "--step", "60", "--rounds", str(flushes), "--addrs", str(addrs),
           "--no-maintain", "--quiet", timeout=3600)
    write = time.monotonic() - t
    t = time.monotonic()
    e2e.sh(drive(), "--db", db, "--host", host, "--maintain-at",
           str(START + 3600 + 10), "--max-hours", "0", timeout=3600)
    return write, time.monotonic() - t


def main():
    addrs = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    flushes = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    c = pc.Cluster(port=54700 + os.getpid() % 200).init().start()
    tmp = tempfile.mkdtemp(prefix="itm-rollup-")
    try:
        lite = run(os.path.join(tmp, "t.db"), "bench", addrs, flushes)
        pg = run(c.url(), "bench", addrs, flushes)
        rows = int(c.psql("SELECT count(*) FROM t_bucket")[0][0])
        hours = int(c.psql("SELECT count(*) FROM t_hour")[0][0])
    finally:
        c.teardown()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    print("%d bucket rows in one hour -> %d hourly rows\n" % (rows, hours))
    print("| store | write s | rollup s | rollup rows/s |")
    print("|---|---|---|---|")
    for name, (w, r) in (("SQLite (baseline)", lite), ("PostgreSQL", pg)):
        print("| %s | %.2f | %.2f | %.0f |" % (name, w, r, rows / r))
    print("\nPostgreSQL rollup / SQLite rollup: %.2f" % (pg[1] / lite[1]))


if __name__ == "__main__":
    main()
