#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes small qqwry.dat fixtures into DIR: qqwry.dat covering every
redirect mode (inline, mode 1, mode 2, nested 1->2, 1->1, area redirect,
area offset 0) in GBK, and corrupt/truncated variants bad-*.dat."""
import struct
import sys


def ip(s):
    return struct.unpack('>I', bytes(int(x) for x in s.split('.')))[0]


class Writer:
    def __init__(self):
        self.buf = bytearray(8)  # header filled in at the end
        self.index = []

    def here(self):
        return len(self.buf)

    def put(self, b):
        off = self.here()
        self.buf += b
        return off

    def s(self, text):
        return self.put(text.encode('gbk') + b'\0')

    @staticmethod
    def u24(v):
        return struct.pack('<I', v)[:3]

    def record(self, start, end, body):
        off = self.put(struct.pack('<I', ip(end)) + body)
        self.index.append((ip(start), off))

    def finish(self):
        first = self.here()
        for start, off in self.index:
            self.buf += struct.pack('<I', start) + self.u24(off)
        last = self.here() - 7
        self.buf[0:8] = struct.pack('<II', first, last)
        return bytes(self.buf)


def build(loop=False):
    w = Writer()
    W = Writer
    shared_country = w.s('中国–广东–深圳')          # modern EN DASH form
    shared_area = w.s('教育网')
    # 1.0.0.0/24 inline country + inline area
    w.record('1.0.0.0', '1.0.0.255', '江苏省南京市'.encode('gbk') + b'\0' + '电信'.encode('gbk') + b'\0')
    # 1.0.1.0/24 mode 1 -> inline pair elsewhere
    target = w.put('北京市海淀区'.encode('gbk') + b'\0' + '联通/某某网吧'.encode('gbk') + b'\0')
    w.record('1.0.1.0', '1.0.1.255', b'\x01' + W.u24(target))
    # 1.0.2.0/24 mode 2 country, inline area after the redirect
    w.record('1.0.2.0', '1.0.2.255', b'\x02' + W.u24(shared_country) + '移动'.encode('gbk') + b'\0')
    # 1.0.3.0/24 nested: mode 1 -> (mode 2 country, area redirect mode 2)
    c = w.s('内蒙古赤峰市')
    target = w.put(b'\x02' + W.u24(c) + b'\x02' + W.u24(shared_area))
    w.record('1.0.3.0', '1.0.3.255', b'\x01' + W.u24(target))
    # 1.0.4.0/24 foreign country, CZ88 placeholder area
    w.record('1.0.4.0', '1.0.4.255', '美国'.encode('gbk') + b'\0' + b' CZ88.NET\0')
    # 1.0.5.0/24 country glued to city, ASCII ISP in area
    w.record('1.0.5.0', '1.0.5.255', '爱尔兰都柏林'.encode('gbk') + b'\0' + b'Microsoft\0')
    # 1.0.6.0/24 area redirect with offset 0: no area
    w.record('1.0.6.0', '1.0.6.255', '新疆乌鲁木齐市'.encode('gbk') + b'\0' + b'\x02\0\0\0')
    # 1.0.7.0/24 mode 1 -> mode 1 -> inline (doubly nested)
    inner = w.put('云南省西双版纳州景洪市'.encode('gbk') + b'\0' + '电信/葛洲坝项目部'.encode('gbk') + b'\0')
    mid = w.put(b'\x01' + W.u24(inner))
    w.record('1.0.7.0', '1.0.7.255', b'\x01' + W.u24(mid))
    # gap at 1.0.8.0/24; 1.0.9.0/24: 直辖市 with a mode 1 area redirect
    w.record('1.0.9.0', '1.0.9.255', '重庆市渝中区'.encode('gbk') + b'\0' + b'\x01' + W.u24(w.s('中移铁通')))
    if loop:
        # mode 1 pointing at itself
        off = w.here() + 4
        w.record('1.0.10.0', '1.0.10.255', b'\x01' + W.u24(off))
    # 1.0.11.0/24: an invalid GBK byte inside the area (0xff leads nothing)
    w.record('1.0.11.0', '1.0.11.255', '美国'.encode('gbk') + b'\0' + b'AB\xffCD' + '公司'.encode('gbk') + b'\0')
    w.record('255.255.255.0', '255.255.255.255', '纯真网络'.encode('gbk') + b'\0' + '2024年IP数据'.encode('gbk') + b'\0')
    return w.finish()


def main():
    d = sys.argv[1]
    good = build()
    open(f'{d}/qqwry.dat', 'wb').write(good)
    bad = {
        'bad-trunc-half.dat': good[:len(good) // 2],
        'bad-trunc-index.dat': good[:-3],
        'bad-header.dat': good[:6],
        'bad-loop.dat': build(loop=True),
    }
    first, last = struct.unpack('<II', good[:8])
    b = bytearray(good)  # record offset beyond the end
    b[first + 4:first + 7] = b'\xff\xff\xff'
    bad['bad-offset.dat'] = bytes(b)
    b = bytearray(good)  # index out of order
    b[first:first + 4] = struct.pack('<I', ip('9.9.9.9'))
    bad['bad-order.dat'] = bytes(b)
    b = bytearray(good)  # a country redirect to the last byte: no NUL after it
    b[first + 7 * 2 + 4:first + 7 * 2 + 7] = (len(good) - 1).to_bytes(3, 'little')
    bad['bad-unterminated.dat'] = bytes(b)
    for name, data in bad.items():
        open(f'{d}/{name}', 'wb').write(data)


main()
