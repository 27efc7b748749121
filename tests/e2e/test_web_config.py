# SPDX-License-Identifier: MIT
"""--web.config.file, the exporter-toolkit way: TLS, client certificates,
basic auth with bcrypt hashes and extra headers, checked with curl and
with a real Prometheus server scraping over TLS with basic auth.

Certificates (a CA, a server certificate for localhost/127.0.0.1, a client
certificate from that CA and a self-signed rogue one) are made with
openssl, hashes with htpasswd, at test time.  Everything runs inside the
test's monitor namespace, over its loopback."""

import json
import subprocess
import time
import urllib.parse

import pytest

import itm_e2e as e2e

PORT = 9877
PROM_PORT = 19090
SINK = 5001
PASSWORD = "s3cret pass"


def _run(*argv, **kw):
    return subprocess.run(list(argv), check=True, capture_output=True,
                          text=True, **kw)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")

    def p(name):
        return str(d / name)

    def key(name):
        _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", p(name))

    key("ca.key")
    _run("openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-days",
         "2", "-subj", "/CN=itm test CA", "-out", p("ca.crt"))
    for name, ext in (("server", "subjectAltName=DNS:localhost,"
                                 "IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        key(name + ".key")
        _run("openssl", "req", "-new", "-key", p(name + ".key"), "-subj",
             "/CN=" + name, "-out", p(name + ".csr"))
        with open(p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        _run("openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA",
             p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-days",
             "2", "-extfile", p(name + ".ext"), "-out", p(name + ".crt"))
    key("rogue.key")
    _run("openssl", "req", "-x509", "-new", "-key", p("rogue.key"), "-days",
         "2", "-subj", "/CN=client", "-out", p("rogue.crt"))
    h = _run("htpasswd", "-nbBC", "5", "prometheus", PASSWORD).stdout
    (d / "hash").write_text(h.strip().split(":", 1)[1])
    return d


def write_config(pki, name, text):
    path = pki / name
    path.write_text(text.replace("HASH", (pki / "hash").read_text()))
    return str(path)


def curl(t, *args, url="https://localhost:%d/metrics" % PORT, ca=None):
    """(exit status, http code, headers text, body) of curl inside the
    monitor namespace; localhost resolves to 127.0.0.1 there."""
    argv = ["curl", "-sS", "--max-time", "10", "-D", "-", "-o", "-",
            "-w", "\n%{http_code}", "--resolve",
            "localhost:%d:127.0.0.1" % PORT]
    if ca:
        argv += ["--cacert", str(ca)]
    p = e2e.nsx(t.mns, *(argv + list(args) + [url]), check=False)
    out, _, code = p.stdout.rpartition("\n")
    head, _, body = out.partition("\n\n")  # text mode: \r\n is \n
    return p.returncode, int(code or 0), head, body


def wait_ready(t, mon, args, ca):
    deadline = time.monotonic() + 30
    while curl(t, *args, ca=ca)[1] != 200:
        assert mon.proc.poll() is None, mon.stderr()
        assert time.monotonic() < deadline, mon.stderr()
        time.sleep(0.2)


def test_tls_basic_auth_and_headers(topo, start_monitor, pki):
    t = topo
    cfg = write_config(pki, "web.yml", """
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  min_version: TLS12
http_server_config:
  headers:
    Strict-Transport-Security: max-age=31536000
    X-Frame-Options: deny
basic_auth_users:
  prometheus: HASH
""")
    sinks = e2e.Sinks(t.pns, [t.peer4[0]], SINK)
    try:
        mon = start_monitor(t, "--web.config.file", cfg, wait=False)
        ca = pki / "ca.crt"
        auth = ["-u", "prometheus:" + PASSWORD]
        wait_ready(t, mon, auth, ca=ca)
        b, p = e2e.udp_send(t.mns, t.MON4, t.peer4[0], SINK, [100, 200])

        rc, code, head, body = curl(t, *auth, ca=ca)
        assert (rc, code) == (0, 200)
        m = e2e.Metrics(body)
        assert t.peer4[0] in m.per_ip(), (head, body[:2000])
        assert m.per_ip()[t.peer4[0]]["tx_bytes"] == b
        assert m.per_ip()[t.peer4[0]]["tx_packets"] == p
        assert "Strict-Transport-Security: max-age=31536000" in head
        assert "X-Frame-Options: deny" in head

        # Wrong password, unknown user, no credentials: 401, and no data.
        for args in (["-u", "prometheus:wrong"], ["-u", "nobody:" + PASSWORD],
                     []):
            rc, code, head, body = curl(t, *args, ca=ca)
            assert (rc, code) == (0, 401), (args, head)
            assert 'WWW-Authenticate: Basic realm="ip_traffic_monitor"' in \
                head
            assert "ip_traffic" not in body
            # The operator's headers are on refusals too.
            assert "X-Frame-Options: deny" in head
        # Every path is guarded, not only /metrics.
        assert curl(t, url="https://localhost:%d/" % PORT, ca=ca)[1] == 401
        # The server's certificate is the one we made: without the CA,
        # verification fails.
        assert curl(t, *auth)[0] == 60
        # Plain HTTP to the TLS port gets no HTTP answer.
        rc, code, _, _ = curl(t, *auth, url="http://localhost:%d/metrics" %
                              PORT)
        assert rc != 0 and code == 0
        assert mon.proc.poll() is None
    finally:
        sinks.close()
    assert mon.stop() == 0


def test_client_certificates(topo, start_monitor, pki):
    t = topo
    cfg = write_config(pki, "mtls.yml", """
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
""")
    ca = pki / "ca.crt"
    good = ["--cert", str(pki / "client.crt"), "--key",
            str(pki / "client.key")]
    rogue = ["--cert", str(pki / "rogue.crt"), "--key",
             str(pki / "rogue.key")]
    mon = start_monitor(t, "--web.config.file", cfg, wait=False)
    wait_ready(t, mon, good, ca=ca)
    # No certificate, or one the CA did not sign: the handshake fails.
    for args in ([], rogue):
        rc, code, _, _ = curl(t, *args, ca=ca)
        assert rc != 0 and code == 0, args
    # A good certificate over TLS 1.2, below min_version: refused.
    rc, code, _, _ = curl(t, *good, "--tls-max", "1.2", ca=ca)
    assert rc != 0 and code == 0
    assert curl(t, *good, ca=ca)[1] == 200
    assert mon.stop() == 0


@pytest.mark.parametrize("text,want", [
    ("tls_server_config:\n  cert_file: server.crt\n", "missing key_file"),
    ("tls_server_config:\n  cert_file: server.crt\n  key_file: nope.key\n",
     "nope.key: No such file or directory"),
    ("tls_server_config:\n  cert_file: server.crt\n  key_file: rogue.key\n",
     "key_file"),
    ("basic_auth_users:\n  prometheus: plaintext\n", "not a bcrypt hash"),
    ("tls_server_config:\n  cert_fil: server.crt\n", "unknown key"),
    ("basic_auth_users: [\n", "line"),
], ids=["no-key", "missing-key", "key-mismatch", "plaintext-password",
        "typo", "broken-yaml"])
def test_bad_config_is_one_line_exit_2(topo, itm_bin, pin_base, pki, text,
                                       want):
    cfg = write_config(pki, "bad.yml", text)
    p = subprocess.run(["nsenter", "--net=/run/netns/%s" % topo.mns,
                        itm_bin, "-i", topo.mif, "-d", "1", "-p", str(PORT),
                        "--pin-dir", pin_base, "--web.config.file", cfg],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and want in lines[0] and cfg in lines[0], p.stderr
    assert topo.attached_programs() == []


def _prom_query(t, q):
    st, _, body = e2e.http_request(
        t.mns, PROM_PORT, path="/api/v1/query?query=" +
        urllib.parse.quote(q))
    assert st == 200, body
    return json.loads(body)["data"]["result"]


def test_prometheus_scrapes_over_tls_with_basic_auth(topo, start_monitor,
                                                     pki, tmp_path):
    t = topo
    cfg = write_config(pki, "prom-web.yml", """
tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  prometheus: HASH
""")
    prom_cfg = tmp_path / "prometheus.yml"
    job = """
  - job_name: %(job)s
    scheme: https
    scrape_interval: 1s
    scrape_timeout: 1s
    tls_config:
      ca_file: %(ca)s
      server_name: localhost
    basic_auth:
      username: prometheus
      password: '%(pw)s'
    static_configs:
      - targets: ['127.0.0.1:%(port)d']
"""
    prom_cfg.write_text("scrape_configs:" +
                        job % {"job": "itm", "ca": pki / "ca.crt",
                               "pw": PASSWORD, "port": PORT} +
                        job % {"job": "itm_wrong_password",
                               "ca": pki / "ca.crt", "pw": "wrong",
                               "port": PORT})
    peer = t.peer4[0]
    sinks = e2e.Sinks(t.pns, [peer], SINK)
    prom = None
    try:
        mon = start_monitor(t, "--web.config.file", cfg, wait=False)
        wait_ready(t, mon, ["-u", "prometheus:" + PASSWORD],
                   ca=pki / "ca.crt")
        b, p = e2e.udp_send(t.mns, t.MON4, peer, SINK, [100, 200, 300])
        prom = subprocess.Popen(
            ["ip", "netns", "exec", t.mns, "prometheus",
             "--config.file=%s" % prom_cfg,
             "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % PROM_PORT],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "prometheus.log", "wb"))
        deadline = time.monotonic() + 60
        got = None
        while time.monotonic() < deadline:
            assert mon.proc.poll() is None, mon.stderr()
            try:
                got = _prom_query(
                    t, 'ip_traffic_tx_bytes_total{remote_ip="%s"}' % peer)
                up = {r["metric"]["job"]: r["value"][1]
                      for r in _prom_query(t, "up")}
            except OSError:
                got, up = None, {}
            if got and len(up) == 2:
                break
            time.sleep(0.5)
        if not got:
            st, _, body = e2e.http_request(t.mns, PROM_PORT,
                                           path="/api/v1/targets")
            pytest.fail("Prometheus never stored the series: %s %s\n%s" %
                        (st, body[:3000], (tmp_path / "prometheus.log")
                         .read_text()[-3000:]))
        assert got[0]["value"][1] == str(b)
        assert got[0]["metric"]["job"] == "itm"
        assert up == {"itm": "1", "itm_wrong_password": "0"}
        pk = _prom_query(
            t, 'ip_traffic_tx_packets_total{remote_ip="%s"}' % peer)
        assert pk[0]["value"][1] == str(p)
    finally:
        sinks.close()
        if prom:
            prom.terminate()
            prom.wait(30)


@pytest.mark.parametrize("auth,none_ok,rogue_ok", [
    ("RequestClientCert", True, True),
    ("RequireAnyClientCert", False, True),
    ("VerifyClientCertIfGiven", True, False),
], ids=["request", "require-any", "verify-if-given"])
def test_client_auth_types(topo, start_monitor, pki, auth, none_ok,
                           rogue_ok):
    """Go's crypto/tls semantics of each client_auth_type."""
    t = topo
    cfg = write_config(pki, "auth-%s.yml" % auth, """
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: %s
  client_ca_file: ca.crt
""" % auth)
    ca = pki / "ca.crt"
    good = ["--cert", str(pki / "client.crt"), "--key",
            str(pki / "client.key")]
    rogue = ["--cert", str(pki / "rogue.crt"), "--key",
             str(pki / "rogue.key")]
    mon = start_monitor(t, "--web.config.file", cfg, wait=False)
    wait_ready(t, mon, good, ca=ca)
    assert (curl(t, ca=ca)[1] == 200) == none_ok
    assert (curl(t, *rogue, ca=ca)[1] == 200) == rogue_ok
    assert mon.stop() == 0


def _stalled_tls(gate, port, n_addrs, per_addr):
    """Connections from n_addrs loopback addresses that send the first
    bytes of a TLS record and then nothing; held until the gate opens.
    Returns (opened, still open then)."""
    import select
    import socket
    socks = []
    for a in range(n_addrs):
        for _ in range(per_addr):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.1.%d" % (a + 1), 0))
            s.connect(("127.0.0.1", port))
            s.send(b"\x16\x03\x01")
            socks.append(s)
    gate.wait_go()
    still = 0
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            still += 1
        else:
            try:
                still += len(s.recv(1, socket.MSG_PEEK)) > 0
            except OSError:
                pass
        s.close()
    return len(socks), still


def test_streamed_body_over_tls_under_hostile_clients(topo, start_monitor,
                                                      pki, tmp_path):
    """The exporter's limits and streaming hold under TLS and basic auth:
    a body of many 64 KiB pieces (4,000 flood addresses at -t 0) arrives
    whole and exact over TLS (ground truth: a capture; the veth may drop a
    few of the flood's frames), plain and gzip, with the operator's
    headers; a
    wrong password gets 401 before any of it; 320 connections from 40
    addresses that stall inside the TLS handshake (more than the 256 the
    exporter keeps) do not keep a real scrape out."""
    import test_flood_bounded as flood
    t = topo
    cfg = write_config(pki, "stream.yml", """
tls_server_config:
  cert_file: server.crt
  key_file: server.key
http_server_config:
  headers:
    X-Frame-Options: deny
basic_auth_users:
  prometheus: HASH
""")
    ca = pki / "ca.crt"
    auth = ["-u", "prometheus:" + PASSWORD]
    mon = start_monitor(t, "-s", "0.2", "--web.config.file", cfg, wait=False)
    wait_ready(t, mon, auth, ca=ca)
    n = 4000
    sinks = e2e.Sinks(t.mns, [t.MON4, t.MON6], flood.SINK_PORT)
    pcap = str(tmp_path / "flood.pcap")
    cap = e2e.Capture(t.mns, t.mif, pcap)
    try:
        gen = e2e.Forked(t.pns, flood._flood, t.pif,
                         bytes.fromhex(t.mmac.replace(":", "")),
                         bytes.fromhex(t.pmac.replace(":", "")), t.MON4,
                         t.MON6, n, 7)
        frames, _ = gen.wait(timeout=120)
        assert frames == n
        t.wait_quiet(quiet_for=0.5)
        cap.stop()
    finally:
        sinks.close()

    def flood_series(per):
        return {ip: c for ip, c in per.items()
                if ip.startswith("100.") or ip.startswith("fd99:")}

    truth = flood_series(flood._truth(t, pcap)[1])
    assert len(truth) > 0.9 * n, len(truth)

    deadline = time.monotonic() + 20
    while True:
        rc, code, head, body = curl(t, *auth, ca=ca)
        assert (rc, code) == (0, 200), head
        got = flood_series(e2e.Metrics(body).per_ip())
        if got == truth or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got == truth
    assert len(body) > 8 * 65536
    assert "Transfer-Encoding: chunked" in head, head
    assert "X-Frame-Options: deny" in head
    rc, code, zhead, zbody = curl(t, *auth, "--compressed", ca=ca)
    assert (rc, code) == (0, 200)
    assert "Content-Encoding: gzip" in zhead and "X-Frame-Options: deny" \
        in zhead, zhead
    assert flood_series(e2e.Metrics(zbody).per_ip()) == got
    rc, code, head, body = curl(t, "-u", "prometheus:wrong", ca=ca)
    assert (rc, code) == (0, 401) and "ip_traffic" not in body
    assert "X-Frame-Options: deny" in head

    stall = e2e.Forked(t.mns, _stalled_tls, PORT, 40, 8, gated=True)
    try:
        time.sleep(1.0)
        rc, code, head, body = curl(t, *auth, ca=ca)
        assert (rc, code) == (0, 200), (rc, code, head, mon.stderr())
        assert flood_series(e2e.Metrics(body).per_ip()) == got
    finally:
        stall.go()
    opened, still = stall.wait(timeout=60)
    assert opened == 320
    assert still <= 256, still
    assert mon.proc.poll() is None
    assert mon.stop() == 0
