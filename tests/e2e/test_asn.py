# SPDX-License-Identifier: MIT
"""The asn label end to end.  A GeoLite2-ASN-shaped database (written at
test time by fixtures/mkgeo.pl) puts four of the test namespaces' peers in
four autonomous systems (one number beyond 16 bits, one IPv6 address) and
leaves three in none.  With it given as --isp-db:

- every per-address series carries exactly its peer's asn label
  ("AS4134 CHINANET-BACKBONE", "Unknown" for the others), with the bytes
  and packets the generator sent, and the sums by asn equal the ground
  truth summed by the same mapping;
- the IPFIX records that nfcapd keeps carry the remote side's AS number
  (bgpDestinationAsNumber on tx, bgpSourceAsNumber on rx; 0 when unknown)
  and, summed by it, the same exact counts.

Three rounds, each with a fresh monitor and collector: the labels come
from a cache filled as addresses are first seen, so each round checks
them again from a cold start."""

import flow_collectors as fc
import itm_e2e as e2e
from test_geo import _fixtures
from test_ipfix import IPFIX_PORT, _ipfix_args, _Peers, _traffic

# peer -> (asn label, AS number); the rest of the peers are Unknown / 0
ASNS = {
    "10.77.0.11": ("AS4134 CHINANET-BACKBONE", 4134),
    "10.77.0.12": ("AS9808 CHINAMOBILE-CN", 9808),
    "10.77.0.13": ('AS4200000123 Example "quoted" 32-bit', 4200000123),
    "fd77::11": ("AS23910 CERNET2", 23910),
}
ROUNDS = 3


def _expect(peer):
    return ASNS.get(peer, ("Unknown", 0))


def _by(table, key):
    """Sum a per-address {tx,rx}_{bytes,packets} table by key(address)."""
    out = {}
    for peer, c in table.items():
        s = out.setdefault(key(peer), dict.fromkeys(c, 0))
        for k, v in c.items():
            s[k] += v
    return out


def _one_round(t, start_monitor, tmp_path, fx, n):
    nf = fc.Nfcapd(t.mns, IPFIX_PORT, str(tmp_path / ("nfcapd%d" % n)))
    nf.start()
    peers = _Peers(t)
    try:
        mon = start_monitor(t, *_ipfix_args(IPFIX_PORT, "--isp-db",
                                            str(fx / "asn.mmdb")))
        truth = _traffic(t, rounds=2, seed=n)
        t.wait_quiet(quiet_for=0.5)
        m = mon.scrape()
        assert mon.stop() == 0, mon.stderr()
    finally:
        peers.close()
        nf.stop()
    return truth, m, nf.records(), nf.log()


def test_asn_labels_and_ipfix_as_numbers(topo, start_monitor, tmp_path):
    t = topo
    fx = _fixtures(tmp_path)
    assert set(ASNS) < set(t.peers)
    for n in range(ROUNDS):
        truth, m, recs, log = _one_round(t, start_monitor, tmp_path, fx, n)
        assert set(truth) == set(t.peers)

        # /metrics: the label of every series, then the exact counts.
        for d in ("tx", "rx"):
            for u in ("bytes", "packets"):
                name = "ip_traffic_%s_%s_total" % (d, u)
                for lab, _ in m.all(name):
                    assert lab["asn"] == _expect(lab["remote_ip"])[0], lab
        assert m.per_ip() == truth
        by_label = {}
        for d in ("tx", "rx"):
            for u in ("bytes", "packets"):
                for lab, v in m.all("ip_traffic_%s_%s_total" % (d, u)):
                    k = "%s_%s" % (d, u)
                    by_label.setdefault(lab["asn"], {}).setdefault(k, 0)
                    by_label[lab["asn"]][k] += int(v)
        want = _by(truth, lambda p: _expect(p)[0])
        assert by_label == want
        # the four systems and Unknown, nothing else
        assert len(want) == len(ASNS) + 1

        # IPFIX: every per-address record names its remote side's AS.
        per_addr = [r for r in recs if r["remote"]]
        assert per_addr, log
        for r in per_addr:
            assert r["remote_as"] == _expect(r["remote"])[1], r
            assert r["other_as"] == 0, r  # the local side is left out
        assert fc.sum_records(recs) == truth, log
        by_as = {}
        for r in per_addr:
            e2e.add_counts(by_as, r["remote_as"], r["dir"], r["bytes"],
                           r["packets"])
        assert by_as == _by(truth, lambda p: _expect(p)[1])
        print("round %d: %d records; by AS (tx+rx bytes): %s" % (
            n, len(per_addr), {k: v["tx_bytes"] + v["rx_bytes"]
                               for k, v in sorted(by_as.items())}))
