# SPDX-License-Identifier: MIT
"""Translations: with LANG=zh_CN.UTF-8 the help, a flag error and the final
summary table are Simplified Chinese, and the table's columns line up in
display cells (a CJK character takes two, as unicodedata's east Asian width
says); with LANG=C.UTF-8 they are English.  Numbers, addresses, flag names
and /metrics are the same in both.

The build tree's binary finds the catalog compiled into build/po through
ITM_LOCALEDIR (an installed binary uses the installed one).  The zh_CN.UTF-8
locale comes from scripts/setup.sh --test (package locales, locale-gen)."""

import os
import re
import signal
import subprocess
import unicodedata

import pytest

import itm_e2e as e2e

PORT = 5011
# The summary's columns: left-aligned, then right-aligned ones.
LEFT, RIGHT = 2, 5
ZH_HEAD = ["排名", "远端地址", "发送字节", "发送包数", "接收字节", "接收包数",
           "合计"]
EN_HEAD = ["RANK", "REMOTE IP", "TX BYTES", "TX PKTS", "RX BYTES", "RX PKTS",
           "TOTAL"]


def cells(s):
    """Display width: wide and fullwidth characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in s)


def has_cjk(s):
    return any(unicodedata.east_asian_width(c) in "WF" for c in s)


@pytest.fixture(scope="module")
def localedir(itm_bin):
    d = os.environ.get("ITM_LOCALEDIR") or os.path.join(
        os.path.dirname(itm_bin), "po")
    mo = os.path.join(d, "zh_CN", "LC_MESSAGES", "ip_traffic_monitor_cli.mo")
    if not os.path.exists(mo):
        pytest.fail("%s missing: build the catalogs with `ninja -C build` "
                    "or set ITM_LOCALEDIR" % mo)
    have = subprocess.run(["locale", "-a"], capture_output=True,
                          text=True).stdout.split()
    if not {"zh_CN.utf8", "zh_CN.UTF-8"} & set(have):
        pytest.fail("locale zh_CN.UTF-8 not generated: run "
                    "scripts/setup.sh --test")
    return d


def lang_env(localedir, lang):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LC_") and k not in ("LANG", "LANGUAGE")}
    env["LANG"] = lang
    env["ITM_LOCALEDIR"] = localedir
    return env


@pytest.fixture(params=["zh_CN.UTF-8", "C.UTF-8"])
def lang(request):
    return request.param


def run(itm_bin, env, *args):
    return subprocess.run([itm_bin, *args], capture_output=True, env=env,
                          timeout=20)


def test_help(itm_bin, localedir, lang):
    p = run(itm_bin, lang_env(localedir, lang), "--help")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode("utf-8")
    zh = lang.startswith("zh")
    first = out.splitlines()[0]
    assert first.startswith("用法：" if zh else "Usage: "), first
    # Flag names and defaults are never translated.
    for flag in ("--iface", "--duration", "--sample-interval",
                 "--prometheus-port", "--prometheus-export-threshold",
                 "--geoip-db", "--no-summary", "[default: 1048576]"
                 if not zh else "[默认：1048576]"):
        assert flag in out, (flag, out)
    assert ("要监控的网卡接口" in out) == zh, out
    assert ("interface to monitor" in out) != zh, out
    # Every option's description starts in the same display column.
    starts = set()
    for line in out.splitlines():
        m = re.match(r"^(\s+-\S.*?\S)(\s{2,})\S", line)
        if m:
            starts.add(cells(m.group(1) + m.group(2)))
    assert starts == {33}, (starts, out)


def test_help_for_the_man_page_is_english(itm_bin, localedir):
    """doc/meson.build runs help2man with LC_ALL=C: that wins over LANG and
    LANGUAGE, so the man page is English on any builder."""
    env = lang_env(localedir, "zh_CN.UTF-8")
    env.update(LC_ALL="C", LANGUAGE="zh_CN")
    out = run(itm_bin, env, "--help").stdout.decode("utf-8")
    assert out.startswith("Usage: ") and "用法" not in out, out


def test_flag_error(itm_bin, localedir, lang):
    p = run(itm_bin, lang_env(localedir, lang), "-i", "lo", "-p", "0")
    assert p.returncode == 2
    err = p.stderr.decode("utf-8")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    if lang.startswith("zh"):
        assert lines[0] == ("ip_traffic_monitor_cli: 错误: -p/--prometheus-port"
                            " 需要 1 到 65535 之间的端口号，收到的是 '0'"
                            "（见 --help）"), err
    else:
        assert lines[0] == ("ip_traffic_monitor_cli: error: "
                            "-p/--prometheus-port wants a port from 1 to "
                            "65535, got '0' (see --help)"), err


def columns(line):
    """[(text, first cell, cell after the end)] of a table line: columns
    are separated by two or more spaces."""
    res = []
    for m in re.finditer(r"\S+(?: \S+)*", line):
        start = cells(line[:m.start()])
        res.append((m.group(0), start, start + cells(m.group(0))))
    return res


def words(line):
    """Like columns() for the live view, whose columns are one space apart
    (none of its names or values here has a space)."""
    res = []
    for m in re.finditer(r"\S+", line):
        start = cells(line[:m.start()])
        res.append((m.group(0), start, start + cells(m.group(0))))
    return res


def test_summary_table(topo, itm_bin, pin_base, localedir, lang, tmp_path,
                       monkeypatch):
    t = topo
    for k in [k for k in os.environ if k.startswith("LC_")] + ["LANGUAGE"]:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LANG", lang)
    monkeypatch.setenv("ITM_LOCALEDIR", localedir)
    mon = e2e.Monitor(itm_bin, t, pin_base, ["-d", "0", "-t", "0", "--quiet",
                                             "--no-pid"],
                      port=9877, tmpdir=str(tmp_path))
    sinks = e2e.Sinks(t.pns, t.peers, PORT)
    msinks = e2e.Sinks(t.mns, t.mon_addrs, PORT)
    truth = {}
    try:
        mon.start()
        for peer, sizes in ((t.peer4[0], [100, 1400, 7]),
                            (t.peer6[0], [50, 60])):
            b, p = e2e.udp_send(t.mns, t.mon_addr_for(peer), peer, PORT,
                                sizes)
            e2e.add_counts(truth, peer, "tx", b, p)
            b, p = e2e.udp_send(t.pns, peer, t.mon_addr_for(peer), PORT,
                                sizes[:1])
            e2e.add_counts(truth, peer, "rx", b, p)
        # /metrics is machine-readable: names and label values as always,
        # whatever the locale.  The one Chinese value is the built-in
        # country of the test's private addresses (--geoip-lang's zh-CN
        # default, not the locale).
        body = mon.scrape_text()
        assert not has_cjk(body.replace('country="局域网"', "")), body
        m = e2e.Metrics(body)
        assert m.exact("ip_traffic_tx_bytes_total", remote_ip=t.peer4[0],
                       country="局域网", province="Unknown", city="Unknown",
                       isp="Unknown") == truth[t.peer4[0]]["tx_bytes"]
        assert mon.stop(signal.SIGTERM) == 0, mon.stderr()
        out = mon.stdout()
        err = mon.stderr()
    finally:
        sinks.close()
        msinks.close()
        mon.close()
    zh = lang.startswith("zh")
    # The start-up line is translated too.
    assert ("正在监控" in err) == zh, err
    title = "=== ip_traffic_monitor_cli %s ===" % ("汇总" if zh else "summary")
    assert title in out, out
    table = out[out.index(title) + len(title):].strip("\n").splitlines()
    assert len(table) == 1 + len(truth) + 1, out
    rows = [columns(ln) for ln in table]
    head = ZH_HEAD if zh else EN_HEAD
    assert [c[0] for c in rows[0]] == head, table[0]
    assert rows[-1][0][0] == head[-1], table[-1]
    assert rows[-1][1][0] == ("全部 2 个地址" if zh else "all 2 addresses")
    for r in rows:
        assert len(r) == len(head), (r, table)
    if not zh:
        assert not any(has_cjk(ln) for ln in table), table
    # Aligned in display cells: left columns start where their header
    # starts, right columns end where their header ends.
    for i in range(len(head)):
        edge = 1 if i < LEFT else 2
        want = rows[0][i][edge]
        got = [r[i][edge] for r in rows]
        assert got == [want] * len(rows), (head[i], got, "\n".join(table))
    # And the numbers are exact.
    for r in rows[1:-1]:
        ip = r[1][0]
        nums = [int(r[k][0]) for k in range(2, 6)]
        assert nums == [truth[ip][k] for k in ("tx_bytes", "tx_packets",
                                               "rx_bytes", "rx_packets")]
    tot = [int(rows[-1][k][0]) for k in range(2, 6)]
    assert tot == [sum(v[k] for v in truth.values()) for k in
                   ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets")]


def test_live_view(request, topo, itm_bin, pin_base, localedir, tmp_path):
    """The full-screen view in Chinese: header, column names, key help and
    the help page; wide column names and place names stay aligned."""
    from test_live_view import PORT as LV_PORT, geo_fixtures, send_named
    from tty import Terminal

    t = topo
    fx = geo_fixtures(tmp_path)
    a4 = t.peer4[0]
    sinks = e2e.Sinks(t.pns, [a4], LV_PORT)  # send_named's port
    request.addfinalizer(sinks.close)
    env = lang_env(localedir, "zh_CN.UTF-8")
    term = Terminal(["nsenter", "--net=/run/netns/%s" % t.mns, itm_bin,
                     "-i", t.mif, "-d", "0", "-s", "1", "-t", "0",
                     "--pin-dir", pin_base, "-g", str(fx / "city1.mmdb"),
                     "--isp-db", str(fx / "isp.mmdb")],
                    cols=200, rows=20, env=env, lang="zh_CN.UTF-8")

    def fin():
        term.close()
        lock = os.path.join(e2e.LOCK_DIR, t.instance() + ".lock")
        if os.path.exists(lock):
            os.unlink(lock)

    request.addfinalizer(fin)
    term.wait_for(lambda l: l[3].startswith("远端地址"), what="the live view")
    tx = send_named(t, "zhsend", a4, [1000] * 20)
    lines = term.wait_for(
        lambda l: (l if any(x.startswith(a4 + " ") and " %d " % tx in x
                            for x in l) else None),
        what="the address row")
    assert "导出器 关闭" in lines[0] and "每 1 秒" in lines[0], lines[0]
    assert lines[1].startswith("合计 发送 %d 字节  接收 0 字节  1 个地址" % tx), \
        lines[1]
    assert lines[2].startswith("视图：地址  排序：总字节数"), lines[2]
    assert lines[-1].startswith("q 退出  p 暂停"), lines[-1]
    head = words(lines[3])
    names = [c[0] for c in head]
    assert names[:5] == ["远端地址", "发送/秒", "接收/秒", "发送2秒", "接收2秒"]
    for n in ("发送字节", "接收字节", "进程", "国家", "省份", "城市", "运营商"):
        assert n in names, names
    row = words([x for x in lines if x.startswith(a4 + " ")][0])
    # The asn label, last, has a space in it: one cell from its words.
    assert names[-1] == "ASN", names
    tail = [w for w in row if w[1] >= head[-1][1]]
    row = [w for w in row if w[1] < head[-1][1]] + [
        (" ".join(w[0] for w in tail), tail[0][1], tail[-1][2])]
    assert len(row) == len(head), "\n".join(lines)
    vals = dict(zip(names, row))
    assert vals["发送字节"][0] == str(tx) and vals["接收字节"][0] == "0"
    assert vals["城市"][0] == "南京市" and vals["省份"][0] == "江苏省"
    assert vals["运营商"][0] == "中国电信"
    assert vals["ASN"][0] == "AS4134 CHINANET-BACKBONE"
    # Text starts under its name, numbers end under it, in display cells.
    for (name, hs, he), (_, rs, re_) in zip(head, row):
        if name in ("远端地址", "进程", "国家", "省份", "城市", "运营商", "ASN"):
            assert rs == hs, (name, lines[3], row)
        else:
            assert re_ == he, (name, lines[3], row)
    term.send("h")
    term.wait_for(lambda l: any(x.startswith("q          退出（退出时打印汇总）")
                                for x in l), what="help")
    term.send("hq")
    assert term.wait_exit(20) == 0
    out = term.output()
    assert "=== ip_traffic_monitor_cli 汇总 ===" in out, out
