# SPDX-License-Identifier: MIT
"""Without -g, private and documentation addresses get the same labels on
/metrics as from `lookup` (issue 24, defect 6): 局域网 / 保留地址 (LAN /
Reserved with --geoip-lang en) from the built-in ranges, every other label
Unknown, and the bytes exact.

Live traffic goes between the two test namespaces only: besides the
topology's private addresses (10.77.0.0/16, fd77::/64), both ends get
documentation addresses on the veth inside those namespaces (TEST-NET-1,
TEST-NET-2, 2001:db8::/32), which the kernel routes on-link there and
nowhere else.
"""

import json
import os
import subprocess

import itm_e2e as e2e

PORT = 5017
# monitor side, peer side, label kind
DOC_PAIRS = [("192.0.2.1", "192.0.2.10", "/24"),
             ("198.51.100.1", "198.51.100.10", "/24"),
             ("2001:db8::1", "2001:db8::10", "/64")]
NAMES = {"zh-CN": {"lan": "局域网", "reserved": "保留地址"},
         "en": {"lan": "LAN", "reserved": "Reserved"}}
GEO = ("country", "province", "city", "isp", "asn")


def _add_doc_addresses(t):
    for mon, peer, plen in DOC_PAIRS:
        v6 = ["-6"] if ":" in mon else []
        nodad = ["nodad"] if v6 else []
        e2e.nsx(t.mns, "ip", *v6, "addr", "add", mon + plen, "dev", t.mif,
                *nodad)
        e2e.nsx(t.pns, "ip", *v6, "addr", "add", peer + plen, "dev", t.pif,
                *nodad)
        # Static neighbours, as the topology's own: no ARP/ND on the wire.
        e2e.nsx(t.mns, "ip", "neigh", "replace", peer, "lladdr", t.pmac,
                "dev", t.mif, "nud", "permanent")
        e2e.nsx(t.pns, "ip", "neigh", "replace", mon, "lladdr", t.mmac,
                "dev", t.pif, "nud", "permanent")


def _lookup(itm_bin, lang, addrs):
    """{address: labels} as `lookup --format json` gives them, no -g."""
    env = dict(os.environ, LC_ALL="C.UTF-8", ITM_LOCALEDIR="")
    p = subprocess.run([itm_bin, "lookup", "--format", "json",
                        "--geoip-lang", lang] + addrs, env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    out = {}
    for line in p.stdout.splitlines():
        doc = json.loads(line)
        out[doc["address"]] = doc
    assert set(out) == set(addrs), (out, addrs)
    return out


def test_special_addresses_without_geoip(topo, start_monitor, itm_bin):
    t = topo
    _add_doc_addresses(t)
    # The new addresses' MLD reports (from ::, the topology has no
    # link-local addresses) go out after a random delay: not ours to count.
    t.wait_quiet(quiet_for=2.5)
    lan = [t.peer4[0], t.peer6[0]]
    doc = [peer for _, peer, _ in DOC_PAIRS]
    mon_for = dict((peer, mon) for mon, peer, _ in DOC_PAIRS)
    mon_for.update((p, t.mon_addr_for(p)) for p in lan)
    peers = lan + doc
    sinks = e2e.Sinks(t.pns, peers, PORT)
    msinks = e2e.Sinks(t.mns, sorted(set(mon_for.values())), PORT)
    try:
        for lang in ("zh-CN", "en"):
            mon = start_monitor(t, "-s", "0.2", "--geoip-lang", lang)
            truth = {}
            for i, peer in enumerate(peers):
                n, p = e2e.udp_send(t.mns, mon_for[peer], peer, PORT,
                                    [100 + i, 700])
                e2e.add_counts(truth, peer, "tx", n, p)
                n, p = e2e.udp_send(t.pns, peer, mon_for[peer], PORT,
                                    [50 + i])
                e2e.add_counts(truth, peer, "rx", n, p)
            t.wait_quiet(quiet_for=0.3)
            m = mon.scrape()
            assert m.per_ip() == truth, (lang, m.per_ip(), truth)
            got = {lab["remote_ip"]: lab for lab, _ in
                   m.all("ip_traffic_tx_bytes_total")}
            looked = _lookup(itm_bin, lang, peers)
            for peer in peers:
                want = NAMES[lang]["lan" if peer in lan else "reserved"]
                lab = got[peer]
                assert lab["country"] == want, (lang, peer, lab)
                for k in GEO[1:]:
                    assert lab[k] == "Unknown", (lang, peer, lab)
                # lookup says the same (JSON: null or absent = unknown).
                lk = looked[peer]
                for k in GEO:
                    assert (lk.get(k) or "Unknown") == lab[k], \
                        (lang, peer, k, lk, lab)
            assert mon.stop() == 0, mon.stderr()
    finally:
        sinks.close()
        msinks.close()
