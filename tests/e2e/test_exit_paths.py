# SPDX-License-Identifier: MIT
"""Every exit path x every store fault state x tcx/clsact: not one counted
byte lost, and a log that never claims otherwise.

Each case runs steady UDP both ways (forked senders that count every
datagram: the ground truth) through a monitor with --db, puts the store
into a fault state while traffic flows, and ends the monitor one way:

  exit paths   SIGTERM, SIGINT, -d expiry, SIGTERM and -d expiry with
               --keep-attached, SIGKILL (what any fatal crash leaves)
  store faults healthy; locked by another writer (BEGIN IMMEDIATE); the
               filesystem full; the files moved away (deleted); replaced by
               a FIFO; and locked / FIFO / full clearing just before the
               stop (0-0.3 s before it, around one sample interval)

Right after the exit, either the database already holds exactly what
was sent, or the monitor said that the rest stays in the pinned maps
(and they are there).  Then the fault is cleared, a second run adopts
whatever was left pinned and stops: the database files (the moved-away
one and the new one together) hold exactly what was sent, byte for byte
and packet for packet, and nothing of ours is left attached or pinned.
"""

import os
import random
import signal
import sqlite3
import time

import pytest

import itm_e2e as e2e
from test_store import steady_sender, stored_per_ip, truth_from

PORT = 5031
SEND_S = 1.0
FAULT_AT_S = 0.3
DURATION_S = 5

EXITS = ["sigterm", "sigint", "duration", "sigterm-keep", "duration-keep",
         "sigkill"]
FAULTS = ["healthy", "locked", "full", "deleted", "fifo", "locked-clears",
          "fifo-clears", "full-clears"]
PINNED = "stay in the pinned maps"


class Fault:
    """One store fault state, applied while traffic flows."""

    def __init__(self, kind, dbdir):
        self.kind = kind.replace("-clears", "")
        self.clears = kind.endswith("-clears")
        self.dir = dbdir
        self.db = os.path.join(dbdir, "traffic.db")
        self.moved = []  # database files moved away, still to be summed
        self.con = None
        self.filler = os.path.join(dbdir, "filler")

    def apply(self):
        if self.kind == "locked":
            self.con = sqlite3.connect(self.db, isolation_level=None,
                                       timeout=10)
            self.con.execute("BEGIN IMMEDIATE")
        elif self.kind == "full":
            e2e.sh("dd", "if=/dev/zero", "of=" + self.filler, "bs=4k",
                   check=False)
        elif self.kind in ("deleted", "fifo"):
            n = len(self.moved)
            moved = os.path.join(self.dir, "moved%d.db" % n)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.rename(self.db + suffix, moved + suffix)
            self.moved.append(moved)
            if self.kind == "fifo":
                os.mkfifo(self.db)

    def clear(self):
        if self.con is not None:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None
        if self.kind == "full" and os.path.exists(self.filler):
            os.unlink(self.filler)
        if self.kind == "fifo" and os.path.exists(self.db) and \
                not os.path.isfile(self.db):
            os.unlink(self.db)

    def stored(self):
        tables = [stored_per_ip(p) for p in self.moved + [self.db]
                  if os.path.isfile(p)]
        return e2e.merge_counts(*tables) if tables else {}


@pytest.fixture
def dbdir(tmp_path):
    """A small tmpfs of the test's own: 'full' fills it up."""
    d = str(tmp_path / "store")
    os.mkdir(d)
    e2e.sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", d)
    yield d
    e2e.sh("umount", "-l", d, check=False)


def _nonzero(table):
    return {k: v for k, v in table.items() if any(v.values())}


@pytest.mark.parametrize("mode", ["tcx", "clsact"])
@pytest.mark.parametrize("fault_kind", FAULTS)
@pytest.mark.parametrize("exit_path", EXITS)
def test_exit_path_loses_nothing(topo, start_monitor, pin_base, dbdir,
                                 exit_path, fault_kind, mode):
    t = topo
    seed = int(time.time() * 1000) & 0xffffffff
    rnd = random.Random(seed)
    fault = Fault(fault_kind, dbdir)
    keep = exit_path.endswith("-keep")
    by_duration = exit_path.startswith("duration")
    base = ["--db", fault.db, "-s", "0.2"] + (
        ["--clsact"] if mode == "clsact" else [])
    sinks = [e2e.Sinks(t.pns, t.peers, PORT),
             e2e.Sinks(t.mns, t.mon_addrs, PORT)]
    try:
        mon = start_monitor(t, *(base + (["--keep-attached"] if keep
                                         else [])),
                            duration=DURATION_S if by_duration else "0")
        tx = e2e.Forked(t.mns, steady_sender,
                        [(t.mon_addr_for(p), p) for p in t.peers], PORT,
                        200, SEND_S, 2000)
        rx = e2e.Forked(t.pns, steady_sender,
                        [(p, t.mon_addr_for(p)) for p in t.peers], PORT,
                        300, SEND_S, 1500)
        if fault.kind != "healthy":
            time.sleep(FAULT_AT_S)
            fault.apply()
        truth = truth_from(tx.wait(60), rx.wait(60))
        t.wait_quiet(quiet_for=0.3)
        # The stop comes 0-0.3 s after the fault clears: before or after
        # the next drain (-s 0.2) has retried the commit.
        gap = rnd.uniform(0.0, 0.3)
        if by_duration:
            left = mon.start_time + DURATION_S - time.monotonic()
            assert left > gap + 0.2, "traffic took too long: %.2f s" % left
            time.sleep(left - gap)
            if fault.clears:
                fault.clear()
            status = mon.wait(30)
        else:
            if fault.clears:
                fault.clear()
            time.sleep(gap)
            if exit_path == "sigkill":
                mon.kill()
                status = 0
            else:
                status = mon.stop(signal.SIGINT if exit_path == "sigint"
                                  else signal.SIGTERM)
        err = mon.stderr()
        ctx = "seed %d, gap %.3f s: %s" % (seed, gap, err)
        assert status == 0, ctx
        pin_dir = os.path.join(pin_base, t.instance())
        if exit_path != "sigkill":
            # Either all of it is stored now, or the log says where it is.
            if PINNED in err or keep:
                assert os.path.isdir(pin_dir), ctx
            else:
                assert _nonzero(fault.stored()) == truth, ctx
                assert not os.path.exists(pin_dir), ctx
            if fault.kind in ("healthy", "deleted") or fault.clears:
                # Nothing was left failing at the stop.
                assert PINNED not in err, ctx
                assert _nonzero(fault.stored()) == truth, ctx
        fault.clear()
        mon = start_monitor(t, *base)
        assert mon.stop() == 0, mon.stderr()
        assert _nonzero(fault.stored()) == truth, ctx
        assert t.attached_programs() == [], ctx
        assert not os.path.exists(pin_dir), ctx
    finally:
        fault.clear()
        for s in sinks:
            s.close()
