# SPDX-License-Identifier: MIT
"""The --db drain key by key: with ITM_TEST_REFUSE=batch the kernel refuses
every batch operation of the daemon, as Linux before 5.6 does, so the
persisted drain reads its maps with user/kernel/drain.c's key-by-key walk
(map_walk()) and deletes what it committed one key at a time
(map_delete_keys()).  Ground truth as in test_store.py: forked senders
count every datagram, the daemon is killed (SIGKILL) at random moments of
its drain cycle and restarted, and /metrics and the stored sums must equal
the senders' counts exactly; then the same across a --keep-attached
restart with traffic while no daemon runs."""

import os

import itm_e2e as e2e
from test_store import (_kill9_rounds, dbdir, scraped_per_ip,  # noqa: F401
                        send_both_ways, sinks, start, stored_per_ip)


def refused(monkeypatch):
    monkeypatch.delenv("ITM_TEST_REFUSE_INLINE", raising=False)
    monkeypatch.setenv("ITM_TEST_REFUSE", "batch")


def assert_key_by_key(mon):
    """The daemon itself says it empties its maps key by key."""
    m = mon.scrape()
    got = [lab["variant"] for lab, v in m.all("ip_traffic_feature")
           if v == 1 and lab["feature"] == "batch_drain"]
    assert got == ["iteration"], got


def test_kill9_key_by_key_loses_nothing(topo, start_monitor, sinks, dbdir,
                                        monkeypatch):
    refused(monkeypatch)
    mon = _kill9_rounds(topo, start_monitor, dbdir, 4)
    assert "draining a statistics map failed" not in mon.stderr()


def test_keep_attached_key_by_key_loses_nothing(topo, start_monitor, sinks,
                                                dbdir, monkeypatch):
    refused(monkeypatch)
    t = topo
    db = os.path.join(dbdir, "traffic.db")
    want = {}
    # Three rounds: traffic while running, while stopped (the kernel
    # alone counts), and after the restart that adopts the pinned maps.
    for _ in range(3):
        mon = start(start_monitor, t, db, "--keep-attached")
        assert_key_by_key(mon)
        want = e2e.merge_counts(want, send_both_ways(t, [100, 1200]))
        t.wait_quiet()
        assert scraped_per_ip(mon)[0] == want
        assert mon.stop() == 0, mon.stderr()
        want = e2e.merge_counts(want, send_both_ways(t, [300, 40]))
    mon = start(start_monitor, t, db)
    t.wait_quiet()
    assert scraped_per_ip(mon)[0] == want
    assert mon.stop() == 0, mon.stderr()
    assert stored_per_ip(db) == want
    assert t.attached_programs() == []
