# SPDX-License-Identifier: MIT
"""The HTTP exporter: promtool accepts a scrape with real traffic; HEAD,
405 for other methods, the / page, and the fixed metric families."""

import subprocess
import time

import itm_e2e as e2e

PORT = 5006


def _traffic(t):
    sinks = e2e.Sinks(t.pns, t.peers, PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    try:
        for peer in t.peers:
            e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT, [10, 900])
            e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), PORT, [77])
        e2e.TcpPeer(t.pns, t.peer4[0], t.mns, t.MON4, 7100, 5000, 5000).run()
    finally:
        sinks.close()
        msinks.close()


def test_promtool_check_metrics(topo, start_monitor, tmp_path):
    t = topo
    mon = start_monitor(t, "-s", "0.2")
    _traffic(t)
    t.wait_quiet(quiet_for=0.3)
    text = mon.scrape_text()
    m = e2e.Metrics(text)
    assert len(m.per_ip()) == len(t.peers)
    path = tmp_path / "scrape.txt"
    path.write_text(text)
    with open(path, "rb") as f:
        p = subprocess.run(["promtool", "check", "metrics"], stdin=f,
                           capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", (
        p.returncode, p.stdout, p.stderr)


def test_metric_families_and_labels(topo, start_monitor):
    t = topo
    mon = start_monitor(t, "-s", "0.2")
    _traffic(t)
    t.wait_quiet(quiet_for=0.3)
    m = mon.scrape()
    for d in ("tx", "rx"):
        for u in ("bytes", "packets"):
            name = "ip_traffic_%s_%s_total" % (d, u)
            assert m.types.get(name) == "counter", name
            for lab, _ in m.all(name):
                assert set(lab) == {"remote_ip", "country", "province",
                                    "city", "isp", "asn"}, lab
                # No geo database given: the test's private addresses
                # are 局域网 from the built-in ranges (as `lookup` says),
                # every other geo label is Unknown.
                assert lab["country"] == "局域网", lab
                for k in ("province", "city", "isp", "asn"):
                    assert lab[k] == "Unknown", lab
            for fam in ("all",):
                n = "ip_traffic_%s_%s_%s_total" % (fam, d, u)
                assert m.types.get(n) == "counter", n
                assert [lab for lab, _ in m.all(n)] == [{}], n
            for fam in ("overflow", "non_ip", "malformed"):
                n = "ip_traffic_%s_%s_%s_total" % (fam, d, u)
                assert m.types.get(n) == "counter", n
                assert {lab.get("iface") for lab, _ in m.all(n)} == {t.mif}, n
    # canonical textual addresses
    for ip in m.per_ip():
        assert ip in t.peers, ip
    for g in ("ip_traffic_tracked_addresses", "ip_traffic_exported_addresses",
              "ip_traffic_build_info", "ip_traffic_start_time_seconds",
              "ip_traffic_scrape_duration_seconds"):
        assert g in m.names(), g
        assert m.types.get(g) == "gauge", (g, m.types.get(g))
    assert m.value("ip_traffic_start_time_seconds") > 1.6e9


def test_http_methods_and_index(topo, start_monitor):
    t = topo
    mon = start_monitor(t)
    st, hdrs, body = e2e.http_request(t.mns, mon.port, "GET", "/metrics")
    assert st == 200
    ctype = hdrs.get("content-type", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype

    st, hdrs, body = e2e.http_request(t.mns, mon.port, "HEAD", "/metrics")
    assert st == 200 and body == b""
    assert hdrs.get("content-type", "").startswith("text/plain")

    for method in ("POST", "PUT", "DELETE"):
        st, hdrs, _ = e2e.http_request(t.mns, mon.port, method, "/metrics")
        assert st == 405, (method, st)
        assert "GET" in hdrs.get("allow", ""), hdrs

    st, hdrs, body = e2e.http_request(t.mns, mon.port, "GET", "/")
    assert st == 200
    assert hdrs.get("content-type", "").startswith("text/html")
    assert b'href="/metrics"' in body or b"href='/metrics'" in body, body

    st, _, _ = e2e.http_request(t.mns, mon.port, "GET", "/nope")
    assert st == 404


def test_listen_address(topo, start_monitor):
    """--listen binds only the given address."""
    t = topo
    mon = start_monitor(t, "--listen", t.MON6, wait=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            st, _, _ = e2e.http_request(t.mns, mon.port, host=t.MON6)
            if st == 200:
                break
        except OSError:
            pass
        assert mon.proc.poll() is None, mon.stderr()
        assert time.monotonic() < deadline, "never ready"
        time.sleep(0.1)
    try:
        e2e.http_request(t.mns, mon.port, host="127.0.0.1", timeout=3)
        assert False, "also answered on 127.0.0.1"
    except OSError:
        pass
