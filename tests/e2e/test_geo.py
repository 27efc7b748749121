# SPDX-License-Identifier: MIT
"""Geography labels end to end: a fixture database (written at test time)
names the test namespaces' addresses in Chinese; /metrics carries exactly
those labels, and replacing the database file while the monitor runs
relabels newly seen addresses without losing or splitting any count."""

import os
import shutil
import subprocess
import time

import itm_e2e as e2e

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 5001


def _fixtures(tmp_path):
    d = tmp_path / "geo"
    d.mkdir()
    subprocess.run(["perl", os.path.join(HERE, "fixtures", "mkgeo.pl"),
                    str(d)], check=True)
    return d


def _labels(m, ip):
    hits = [lab for lab, _ in m.all("ip_traffic_tx_bytes_total")
            if lab["remote_ip"] == ip]
    assert len(hits) == 1, "%s has %d tx series" % (ip, len(hits))
    lab = dict(hits[0])
    del lab["remote_ip"]
    return lab


def _send(t, peer, sizes, truth):
    b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT, sizes)
    e2e.add_counts(truth, peer, "tx", b, p)


def _replace(src, dst):
    """What geoipupdate does: write a new file, rename it into place."""
    tmp = str(dst) + ".new"
    shutil.copyfile(src, tmp)
    os.rename(tmp, dst)


def test_geo_labels_and_live_replacement(topo, start_monitor, tmp_path):
    t = topo
    fx = _fixtures(tmp_path)
    live = tmp_path / "city.mmdb"
    shutil.copyfile(fx / "city1.mmdb", live)
    a, b, c, d = t.peer4[0], t.peer4[1], t.peer4[2], t.peer4[3]
    v6 = t.peer6[0]
    sinks = e2e.Sinks(t.pns, t.peers, PORT)
    truth = {}
    try:
        mon = start_monitor(t, "-s", "0.2", "-g", str(live), "--isp-db",
                            str(fx / "isp.mmdb"))
        for peer in (a, b, v6):
            _send(t, peer, [100, 200], truth)
        m1 = mon.scrape()

        _replace(fx / "city2.mmdb", live)
        time.sleep(1.0)  # several sample intervals: the change is seen
        _send(t, a, [300], truth)  # known address: keeps its series
        _send(t, c, [400], truth)  # new address: the new database's names
        m2 = mon.scrape()

        # A broken release: the old data stays in use, with a warning.
        with open(str(live) + ".new", "wb") as f:
            f.write(b"this is not a database" * 10)
        os.rename(str(live) + ".new", live)
        time.sleep(1.0)
        _send(t, d, [500], truth)
        _send(t, c, [600], truth)
        m3 = mon.scrape()
        # A FIFO renamed into place: refused without blocking the drain
        # loop (the scrape below still sees new traffic), one warning.
        fifo = str(live) + ".fifo"
        os.mkfifo(fifo)
        os.rename(fifo, live)
        time.sleep(1.0)
        _send(t, c, [700], truth)
        m4 = mon.scrape()
        time.sleep(1.0)
        err = mon.stderr()
    finally:
        sinks.close()

    assert _labels(m1, a) == {"country": "中国", "province": "江苏省",
                              "city": "南京市", "isp": "中国电信",
                              "asn": "AS4134 CHINANET-BACKBONE"}
    assert _labels(m1, b) == {"country": "中国", "province": "广东省",
                              "city": "深圳市", "isp": "中国移动",
                              "asn": "AS9808 China Mobile Communications "
                                     "Corporation"}
    assert _labels(m1, v6) == {"country": "中国", "province": "北京市",
                               "city": "北京市", "isp": "Unknown",
                               "asn": "Unknown"}

    # After the replacement: a keeps its labels (one series, all bytes),
    # c is named by the new release.
    assert _labels(m2, a) == _labels(m1, a)
    assert _labels(m2, c) == {"country": "中国", "province": "上海市",
                              "city": "上海市", "isp": "Unknown",
                              "asn": "Unknown"}
    # After the broken release: still the second release's data; d is in
    # neither release, so it gets the private-range name.
    assert _labels(m3, c) == _labels(m2, c)
    assert _labels(m3, d) == {"country": "局域网", "province": "Unknown",
                              "city": "Unknown", "isp": "Unknown",
                              "asn": "Unknown"}
    assert "reload" in err and "city.mmdb" in err, err
    assert _labels(m4, c) == _labels(m2, c)
    fifo_lines = [l for l in err.splitlines() if "FIFO" in l]
    assert len(fifo_lines) == 1 and "keeping the old data" in fifo_lines[0], err

    # Counts are exact through both replacements.
    got = m4.per_ip()
    for peer, want in truth.items():
        assert got[peer]["tx_bytes"] == want["tx_bytes"], peer
        assert got[peer]["tx_packets"] == want["tx_packets"], peer


def test_unopenable_database_is_an_error(topo, itm_bin, tmp_path, pin_base):
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"\x00" * 100)
    fifo = tmp_path / "fifo.mmdb"
    os.mkfifo(fifo)
    # special files: refused at once (a FIFO must not block the start)
    for db in (str(bad), str(tmp_path / "missing.mmdb"), str(fifo),
               str(tmp_path), "/dev/zero"):
        p = subprocess.run(["nsenter", "--net=/run/netns/%s" % topo.mns,
                            itm_bin, "-i", topo.mif, "-d", "1",
                            "--pin-dir", pin_base, "-g", db],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, p
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and db in lines[0], p.stderr
        assert topo.attached_programs() == []
