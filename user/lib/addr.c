// SPDX-License-Identifier: MIT
#include "addr.h"

#include <stdint.h>
#include <string.h>

/* A byte in decimal at p (no NUL); returns the number of characters. */
static size_t u8_to_dec(unsigned int v, char *p)
{
	size_t n = 0;

	if (v >= 100)
		p[n++] = (char)('0' + v / 100);
	if (v >= 10)
		p[n++] = (char)('0' + v / 10 % 10);
	p[n++] = (char)('0' + v % 10);
	return n;
}

/* Dotted quad by hand: inet_ntop costs more than the rest of the line. */
static size_t ipv4_to_str(const uint8_t *a, char *p)
{
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		if (i)
			p[n++] = '.';
		n += u8_to_dec(a[i], p + n);
	}
	return n;
}

static size_t hex16(unsigned int v, char *p)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int shift = 12;

	while (shift > 0 && !(v >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		p[n++] = hex[(v >> shift) & 0xf];
	return n;
}

/*
 * RFC 5952 text, byte for byte what glibc's inet_ntop() prints (which
 * goes through sprintf and showed up at the top of the profile).
 */
static size_t ipv6_to_str(const uint8_t *a, char *p)
{
	int best = -1, best_len = 0, cur = -1, cur_len = 0, i;
	unsigned int w[8];
	size_t n = 0;

	for (i = 0; i < 8; i++) {
		w[i] = (unsigned int)a[2 * i] << 8 | a[2 * i + 1];
		if (w[i]) {
			cur = -1;
			continue;
		}
		if (cur < 0) {
			cur = i;
			cur_len = 0;
		}
		if (++cur_len > best_len) {
			best = cur;
			best_len = cur_len;
		}
	}
	if (best_len < 2)
		best = -1;
	for (i = 0; i < 8; i++) {
		if (i == best) {
			p[n++] = ':';
			i += best_len - 1;
			if (i == 7)
				p[n++] = ':';
			continue;
		}
		if (i)
			p[n++] = ':';
		/* ::a.b.c.d (IPv4-compatible), as glibc prints it. */
		if (i == 6 && best == 0 && best_len == 6) {
			n += ipv4_to_str(a + 12, p + n);
			break;
		}
		n += hex16(w[i], p + n);
	}
	return n;
}

size_t addr_format(const struct in6_addr *a, char buf[INET6_ADDRSTRLEN])
{
	size_t n;

	if (IN6_IS_ADDR_V4MAPPED(a))
		n = ipv4_to_str(a->s6_addr + 12, buf);
	else
		n = ipv6_to_str(a->s6_addr, buf);
	buf[n] = '\0';
	return n;
}
